import { buildSchema, execute, type ExecutionResult, GraphQLError, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { compiledExecute, internResolvePaths } from '../../src/http/plugins/compiledExecutor.js';

// The compiled executor (VAULT_GRAPHQL_EXECUTOR=jit) against graphql-js on a schema of every way a field can
// fail: the same JSON, and errors located the same way (nodes, path, original error), since yoga.ts masks
// errors by their original and requestError keeps their nodes.
const schema = buildSchema(`
  type Query {
    ok: String
    thrown: String
    coded: String
    located: String
    weird: String
    returned: String
    later: String
    nonNull: String!
    objs: [Obj!]
    pair: Pair
    union: [U]
    paths: [Obj]
    bad: Int
  }
  type Obj { a: String! b: String path: String }
  type Other { c: String }
  type Pair { left: Obj right: Obj }
  union U = Obj | Other
`);

const fields = schema.getQueryType()!.getFields();
const objs = [
  { a: 'x', b: 'y' },
  { a: null, b: 'z' },
];
const resolvers: Record<string, () => unknown> = {
  ok: () => 'fine',
  thrown: () => {
    throw new Error('boom');
  },
  coded: () => {
    throw new GraphQLError('refused', { extensions: { code: 'FORBIDDEN' } });
  },
  located: () => {
    throw new GraphQLError('already placed', { path: ['elsewhere'] });
  },
  weird: () => {
    throw 'a string';
  },
  returned: () => new Error('returned, not thrown'),
  later: async () => {
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('later');
  },
  nonNull: () => null,
  objs: () => objs,
  pair: () => ({ left: objs[0], right: objs[1] }),
  union: () => [{ kind: 'Obj', a: 'u' }, { kind: 'Other', c: 'o' }, null],
  paths: () => [{ a: '1' }, { a: '2' }],
  bad: () => 'abc',
};
for (const [name, resolve] of Object.entries(resolvers)) fields[name]!.resolve = resolve;
(schema.getType('U') as unknown as { resolveType: (v: { kind: string }) => string }).resolveType = (v) => v.kind;
// Obj.path tells which list-item link object its info.path.prev is: graphql-js gives every field of one item
// the same one.
const seen = new Map<unknown, number>();
(schema.getType('Obj') as unknown as { getFields(): Record<string, { resolve?: unknown }> }).getFields().path!.resolve = (
  _: unknown,
  __: unknown,
  ___: unknown,
  info: { path: { prev: unknown } },
) => {
  if (!seen.has(info.path.prev)) seen.set(info.path.prev, seen.size);
  return `item link #${seen.get(info.path.prev)}`;
};
internResolvePaths(schema);

const compiled = compiledExecute(1);

async function both(source: string, variableValues?: Record<string, unknown>) {
  const document = parse(source);
  const js = (await execute({ schema, document, variableValues, contextValue: {} })) as ExecutionResult;
  const jit = (await compiled({ schema, document, variableValues, contextValue: {} })) as ExecutionResult;
  return { js, jit };
}

const shape = (r: ExecutionResult) =>
  r.errors?.map((e) => ({
    message: e.message,
    path: e.path,
    nodes: e.nodes?.map((n) => n.loc?.start),
    locations: e.locations,
    extensions: e.extensions,
    original: e.originalError && { type: e.originalError.constructor.name, message: e.originalError.message },
  }));

describe('compiled executor', () => {
  it.each([
    ['{ ok thrown coded located weird returned later }'],
    ['{ nonNull }'],
    ['{ bad }'],
    ['{ objs { a b } }'],
    ['{ pair { left { a } right { a b } } }'],
    ['{ union { __typename ... on Obj { a } ... on Other { c } } }'],
    ['query Q($skip: Boolean!) { ok @skip(if: $skip) x: thrown }'],
  ])('answers %s as graphql-js does', async (source) => {
    const { js, jit } = await both(source, { skip: false });
    expect(JSON.stringify(jit)).toBe(JSON.stringify(js));
    expect(shape(jit)).toEqual(shape(js));
  });

  it('refuses variables in graphql-js words', async () => {
    const { js, jit } = await both('query Q($skip: Boolean!) { ok @skip(if: $skip) }', { skip: 'yes' });
    expect(JSON.stringify(jit)).toBe(JSON.stringify(js));
  });

  it('runs an operation on graphql-js until its compileOn-th execution', async () => {
    const second = compiledExecute(2);
    const document = parse('{ ok }');
    let answers = 0;
    fields.ok!.resolve = (_parent, _args, _context, info) => {
      answers++;
      // graphql-js's paths know their parent type's name; graphql-jit's (this resolver is not interned) do not.
      return info.path.typename ?? 'jit';
    };
    const run = async () => ((await second({ schema, document, contextValue: {} })) as ExecutionResult).data;
    expect([await run(), await run(), await run()]).toEqual([{ ok: 'Query' }, { ok: 'jit' }, { ok: 'jit' }]);
    expect(answers).toBe(3);
    fields.ok!.resolve = resolvers.ok;
  });

  it('hands resolvers one path object per response position, as graphql-js does', async () => {
    const source = '{ paths { path again: path } }';
    seen.clear();
    const { js } = await both(source);
    expect(js.data).toEqual({
      paths: [
        { path: 'item link #0', again: 'item link #0' },
        { path: 'item link #1', again: 'item link #1' },
      ],
    });
    seen.clear();
    const jit = (await compiled({ schema, document: parse(source), contextValue: {} })) as ExecutionResult;
    expect(jit.data).toEqual(js.data);
  });
});
