// A JSON Schema (2020-12) checker for the subset the OpenAPI document uses (type, const, enum, properties,
// required, additionalProperties, items, anyOf, oneOf, $ref into the document, minimum/maximum), so tests
// check answers against the document as served, not against the code that produced both.

type Schema = Record<string, any>;

/** Where `value` breaks `schema` (empty when it fits). `root` resolves `$ref`s (`#/components/...`). */
export function schemaProblems(schema: Schema, value: unknown, root: Schema, at = '$'): string[] {
  if (schema.$ref) {
    const target = (schema.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce((node: any, key) => node?.[key], root);
    if (!target) return [`${at}: unresolved ${schema.$ref}`];
    return schemaProblems(target, value, root, at);
  }
  if (schema.anyOf) {
    const fits = (schema.anyOf as Schema[]).filter((s) => schemaProblems(s, value, root, at).length === 0);
    return fits.length > 0 ? [] : [`${at}: fits none of anyOf`];
  }
  if (schema.oneOf) {
    const fits = (schema.oneOf as Schema[]).filter((s) => schemaProblems(s, value, root, at).length === 0);
    return fits.length === 1 ? [] : [`${at}: fits ${fits.length} of oneOf`];
  }
  if ('const' in schema && value !== schema.const) return [`${at}: not ${JSON.stringify(schema.const)}`];
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) return [`${at}: not in enum`];
  const types: string[] | undefined = schema.type === undefined ? undefined : [schema.type].flat();
  if (types && !types.some((t) => typeOk(t, value))) return [`${at}: not ${types.join('|')}`];
  const problems: string[] = [];
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: above maximum`);
  }
  if (Array.isArray(value) && schema.items) {
    for (const [i, v] of value.entries()) problems.push(...schemaProblems(schema.items, v, root, `${at}[${i}]`));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in obj)) problems.push(`${at}.${key}: missing`);
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) problems.push(...schemaProblems(props[key], v, root, `${at}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${key}: not documented`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        problems.push(...schemaProblems(schema.additionalProperties, v, root, `${at}.${key}`));
      }
    }
  }
  return problems;
}

function typeOk(type: string, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}
