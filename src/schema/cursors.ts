import {
  getArgumentValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isObjectType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestContext } from '../http/context.js';
import { Code } from '../domain/shared/errors.js';
import type { IdPrefix } from '../domain/shared/ids.js';
import { requestError } from '../http/requestErrors.js';

/**
 * A connection's `after`/`before` that this connection did not issue to this merchant. The message is fixed:
 * the cursor itself is never echoed, nor logged (it is the caller's text, and may hold anything, a card
 * number included).
 */
export class InvalidCursor extends Error {
  override name = 'InvalidCursor';
  constructor() {
    super('Invalid cursor: pass a cursor that this connection returned');
  }
}

/** The kind of record each connection pages over: its cursors carry ids of this prefix, and no other. */
const CONNECTION_ID_PREFIXES: Record<string, IdPrefix> = {
  CustomerConnection: 'cus',
  PaymentMethodConnection: 'pm',
  AuditEventConnection: 'aud',
  WebhookDeliveryConnection: 'wha',
};

// Every connection pages over the unique key (merchantId, id), so Pothos' prisma plugin writes each cursor
// as base64 of `GPC:T:["S:<merchant id>","S:<record id>"]` (ids are newId's: prefix and 22 base62
// characters). This is the one decoder for all of them: a cursor is accepted only in exactly that shape,
// with the caller's own merchant and an id of the connection's own kind. Anything else (garbage, another
// shape, a tuple of other types that Pothos would hand to Prisma, a cursor of another connection or of
// another merchant, which would page by the position of a record the caller may not see) is refused.
const BASE64 = /^[A-Za-z0-9+/]{1,256}={0,2}$/;
const TUPLE = /^GPC:T:\["S:(mer_[0-9A-Za-z]{22})","S:([a-z]{2,4})_([0-9A-Za-z]{22})"\]$/;

function decodeCursor(cursor: unknown, merchantId: string, prefix: IdPrefix): { merchantId: string; id: string } {
  if (typeof cursor !== 'string' || !BASE64.test(cursor)) throw new InvalidCursor();
  const match = TUPLE.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  if (!match || match[1] !== merchantId || match[2] !== prefix) throw new InvalidCursor();
  return { merchantId, id: `${prefix}_${match[3]}` };
}

/**
 * Checks every `after` and `before` of every connection the operation selects (through fragments too, and
 * whatever their variables say) with `decodeCursor`, before anything executes. A bad cursor answers 400
 * BAD_USER_INPUT and nothing runs: Pothos never parses it (its own parser quotes the cursor in errors that
 * yoga logs, and passes well-formed tuples of any types on to Prisma: INTERNAL_SERVER_ERROR).
 */
export function useCursorCheck(schema: GraphQLSchema): Plugin {
  for (const type of Object.values(schema.getTypeMap())) {
    if (isObjectType(type) && type.name.endsWith('Connection') && !(type.name in CONNECTION_ID_PREFIXES)) {
      throw new Error(`${type.name}: add its id prefix to CONNECTION_ID_PREFIXES (src/schema/cursors.ts)`);
    }
  }
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const merchantId = (args.contextValue as Partial<RequestContext>).principal?.merchantId;
      if (!merchantId) return;
      try {
        checkCursors(args.schema, args.document, args.operationName ?? undefined, args.variableValues ?? {}, merchantId);
      } catch (err) {
        if (!(err instanceof InvalidCursor)) throw err;
        setResultAndStopExecution({ errors: [requestError(Code.BAD_USER_INPUT, err.message, { status: 400 })] });
      }
    },
  };
}

// Yoga caches parsed documents, so this is one walk per distinct document: most never page.
const paging = new WeakMap<DocumentNode, boolean>();

function pages(document: DocumentNode): boolean {
  let found = paging.get(document);
  if (found === undefined) {
    found = false;
    visit(document, {
      Argument(node) {
        if (node.name.value === 'after' || node.name.value === 'before') found = true;
      },
    });
    paging.set(document, found);
  }
  return found;
}

function checkCursors(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  inputs: Record<string, unknown>,
  merchantId: string,
): void {
  if (!pages(document)) return;
  const operation = getOperationAST(document, operationName);
  if (!operation) return;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], inputs);
  // Variables that do not fit their types: execution refuses them itself (BAD_USER_INPUT).
  if (coerced.errors) return;
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Field(node) {
      const field = typeInfo.getFieldDef();
      const prefix = field && CONNECTION_ID_PREFIXES[getNamedType(field.type).name];
      if (!field || !prefix) return;
      const values = getArgumentValues(field, node, coerced.coerced);
      for (const name of ['after', 'before']) {
        if (values[name] != null) decodeCursor(values[name], merchantId, prefix);
      }
    },
  });
  for (const definition of [operation, ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)]) {
    visit(definition, visitor);
  }
}
