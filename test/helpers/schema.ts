/**
 * Checks a response envelope of the LXD or Incus REST API against the JSON
 * Schema generated from the server's own API description
 * (test/generated/lxd-schema.json or incus-schema.json, written by
 * scripts/gen-types.ts): Incus's when LXD_TEST_SERVER=incus (npm test's
 * Incus pass), else LXD's. Response object types are strict there:
 * every field is required and no other field is allowed, so a field the real
 * server sends that the generated types lack (or the reverse) is reported.
 *
 * Route matching follows src/routes.ts: urls relative to /1.0 or absolute,
 * segment-wise, a literal segment beats a `{param}`, and a `{param}` never
 * matches a `/` or an empty segment.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

type JsonSchema = Record<string, unknown>;

interface RouteSchemas {
  async: boolean;
  sync: boolean;
  /** Metadata schema per documented recursion level; `null`: not JSON. */
  metadata: Record<string, JsonSchema | null>;
}

interface SchemaDocument {
  definitions: Record<string, JsonSchema>;
  'x-routes': Record<string, Record<string, RouteSchemas>>;
}

interface TrieNode {
  route?: string;
  children: Map<string, TrieNode>;
}

/** The schema file this process checks against. */
export const schemaFile = `test/generated/${process.env.LXD_TEST_SERVER === 'incus' ? 'incus' : 'lxd'}-schema.json`;

const doc = JSON.parse(readFileSync(new URL(`../../${schemaFile}`, import.meta.url), 'utf8')) as SchemaDocument &
  Record<string, unknown>;
const SCHEMA_ID = String(doc.$id);

const ajv = new Ajv({ allErrors: true, strict: true });
{
  const { 'x-routes': _routes, ...root } = doc;
  ajv.addSchema({ ...root, $id: SCHEMA_ID });
}

const trie: TrieNode = { children: new Map() };
for (const route of Object.keys(doc['x-routes'])) {
  let node = trie;
  for (const seg of route.split('/').filter((s) => s !== '')) {
    const key = /^\{.+\}$/.test(seg) ? '*' : seg;
    let next = node.children.get(key);
    if (!next) {
      next = { children: new Map() };
      node.children.set(key, next);
    }
    node = next;
  }
  node.route = route;
}

/** The documented route key a path resolves to, e.g. `'/1.0/instances/{name}'`. */
export function matchRoute(path: string): string | undefined {
  let p = path.split('?')[0] ?? '';
  if (!p.startsWith('/')) p = p === '' ? '/1.0' : `/1.0/${p}`;
  const segs = p === '/' ? [] : p.slice(1).split('/');
  let node: TrieNode | undefined = trie;
  for (const seg of segs) {
    if (!node) return undefined;
    const literal: TrieNode | undefined = seg === '*' ? undefined : node.children.get(seg);
    node = literal ?? (seg === '' ? undefined : node.children.get('*'));
  }
  return node?.route;
}

/** Rewrites local `#/definitions/...` refs to the shared root schema. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema && typeof schema === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${SCHEMA_ID}${v}` : rebase(v);
    }
    return out;
  }
  return schema;
}

const compiled = new Map<string, ValidateFunction>();
function validator(key: string, schema: JsonSchema): ValidateFunction {
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(rebase(schema) as JsonSchema);
    compiled.set(key, v);
  }
  return v;
}

function describe(e: ErrorObject): string {
  const where = `metadata${e.instancePath}`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${where}: unexpected field "${String(p.additionalProperty)}"`;
    case 'required':
      return `${where}: missing field "${String(p.missingProperty)}"`;
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

function recursionOf(path: string, query: Record<string, unknown> | undefined): number {
  const fromQuery = query?.recursion;
  if (fromQuery !== undefined) return Number(fromQuery) || 0;
  const qs = path.includes('?') ? path.slice(path.indexOf('?') + 1) : '';
  return Number(new URLSearchParams(qs).get('recursion') ?? 0) || 0;
}

/**
 * Validates the `metadata` of an LXD response envelope against the
 * documented response of `method` on `path` (with `query`; its
 * `recursion` picks the documented variant). Returns the problems found,
 * `[]` when the response matches, or when the route's response is not
 * documented as JSON (raw files, websockets, metrics).
 *
 * @param envelopeJson the parsed response body, or its JSON text.
 */
export function checkResponse(
  method: string,
  path: string,
  query: Record<string, unknown> | undefined,
  envelopeJson: unknown,
): string[] {
  let envelope = envelopeJson;
  if (typeof envelope === 'string') {
    try {
      envelope = JSON.parse(envelope);
    } catch {
      return ['envelope: not JSON'];
    }
  }
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)) return ['envelope: not a JSON object'];
  const env = envelope as Record<string, unknown>;
  const verb = method.toUpperCase();
  const route = matchRoute(path);
  if (!route) return [`no documented route for ${verb} ${path}`];
  const r = doc['x-routes'][route]?.[verb];
  if (!r) return [`${verb} is not documented for ${route}`];

  if (env.type === 'error') return [`envelope: error response ${String(env.error_code)} ${String(env.error)}`];
  if (!('metadata' in env)) return ['envelope: no "metadata"'];
  if (env.type === 'async') {
    if (!r.async) return [`envelope: ${verb} ${route} is documented as sync, got async`];
    const v = validator('#Operation', { $ref: '#/definitions/Operation' });
    return v(env.metadata) ? [] : [...new Set((v.errors ?? []).map(describe))];
  }
  if (env.type !== 'sync') return [`envelope: unexpected type ${JSON.stringify(env.type)}`];
  if (!r.sync) return [`envelope: ${verb} ${route} is documented as async, got sync`];

  const level = recursionOf(path, query);
  const levels = Object.keys(r.metadata).map(Number);
  const chosen = levels.includes(level) ? level : level > 0 ? Math.max(...levels) : 0;
  const schema = r.metadata[String(chosen)];
  if (!schema) return [];
  const v = validator(`${verb} ${route} ${chosen}`, schema);
  return v(env.metadata) ? [] : [...new Set((v.errors ?? []).map(describe))];
}
