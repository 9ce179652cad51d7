/**
 * Generate TypeScript types, a typed route map and a JSON Schema from a
 * server's own Swagger 2.0 description of its REST API: LXD 5.0's or Incus
 * 6.0's.
 *
 * Usage:
 *
 *     npm run gen-types -- <path/to/rest-api.yaml> [out-root]
 *
 * The descriptions are LXD's `doc/rest-api.yaml` on the `stable-5.0` branch of
 * https://github.com/canonical/lxd and Incus's `doc/rest-api.yaml` at tag
 * `v6.0.4` of https://github.com/lxc/incus (both Apache-2.0); the generator
 * refuses a file whose sha256 is not in `DESCRIPTIONS` below. (LXD's own
 * descriptions from 5.21 on are AGPL-3.0-only: not for this MIT package.)
 *
 * Writes, relative to `out-root` (default: the repository root), with
 * `<server>` `lxd` or `incus` and `<Server>` `Lxd` or `Incus`:
 *
 * - `src/generated/<server>-types.ts`: one exported type per `definitions` entry;
 * - `src/generated/<server>-routes.ts`: the route map (`<Server>Routes`) and the
 *   segment trie (`<Server>RouteTrie`) used by `src/routes.ts`;
 * - `test/generated/<server>-schema.json`: JSON Schema (draft-07) of the same
 *   definitions plus, per route, the schema of the response `metadata`.
 *
 * The output is deterministic: keys are sorted with a locale-independent
 * comparison and nothing depends on time or environment.
 *
 * Optionality. LXD's swagger marks almost nothing as required, but the
 * server serialises every field of its Go structs (they mostly lack
 * `omitempty`). So:
 *
 * - definitions reachable from a response are emitted with required fields
 *   (and, in the JSON Schema, `required` + `additionalProperties: false`);
 * - definitions reachable only from request bodies (`in: body` parameters,
 *   e.g. `InstancesPost`, `InstancePut`) are emitted with optional fields;
 * - a definition reachable both ways (in LXD 5.0 only `ImageMetadata`, and
 *   what it references) is emitted twice: `X` (required fields, what the
 *   server sends) and `XRequest` (optional fields, what a body may send).
 *   Request-side references always point to the `...Request` variant.
 *
 * Known mistakes of the spec versus the server are corrected by the small,
 * documented tables `METADATA_OVERRIDES`, `NULLABLE`, `OMITEMPTY` (both
 * servers: Incus is LXD's fork and shares those answers), `NOT_IN_5_0_2` (LXD
 * only) and `INCUS_NULLABLE` (Incus only) below; every entry must match the
 * description it is applied to. The end-to-end suites check every JSON
 * response of a real LXD 5.0.2 and a real Incus 6.0.4 against their schema
 * (test/e2e/schema-check.ts): that is where most entries come from.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// ---------------------------------------------------------------------------
// Swagger shapes (only what we read)

interface SwaggerSchema {
  $ref?: string;
  type?: string;
  format?: string;
  description?: string;
  title?: string;
  example?: unknown;
  readOnly?: boolean;
  items?: SwaggerSchema;
  properties?: Record<string, SwaggerSchema>;
  additionalProperties?: SwaggerSchema | boolean;
  required?: string[];
  allOf?: SwaggerSchema[];
  /** Not swagger 2.0: only in this script's corrections and merged variants. */
  anyOf?: SwaggerSchema[];
}

interface SwaggerParameter {
  name: string;
  in: 'query' | 'header' | 'path' | 'body' | 'formData';
  description?: string;
  type?: string;
  required?: boolean;
  schema?: SwaggerSchema;
}

interface SwaggerResponse {
  $ref?: string;
  description?: string;
  schema?: SwaggerSchema;
}

interface SwaggerOperation {
  operationId?: string;
  summary?: string;
  description?: string;
  parameters?: SwaggerParameter[];
  responses?: Record<string, SwaggerResponse>;
  produces?: string[];
}

interface Swagger {
  swagger: string;
  info: { title?: string; version?: string; license?: { name?: string } };
  definitions: Record<string, SwaggerSchema>;
  paths: Record<string, Record<string, SwaggerOperation>>;
  responses: Record<string, SwaggerResponse>;
}

// ---------------------------------------------------------------------------
// Corrections of the spec (keep small, each with a reason)

/**
 * Response metadata the spec documents wrongly, keyed by `METHOD path-key`
 * (the spec's own path key, including its `?recursion=N` suffix). The value
 * is a swagger schema used instead of the documented one; `async: true`
 * marks a route that can also answer with an operation (202), which the
 * schema must then include.
 */
const METADATA_OVERRIDES: Record<string, { schema: SwaggerSchema; reason: string; async?: true }> = {
  'GET /1.0/operations?recursion=1': {
    schema: {
      type: 'object',
      additionalProperties: {
        type: 'array',
        items: { $ref: '#/definitions/Operation' },
      },
    },
    reason:
      'the server groups operations by status ({"running": [...], "success": [...]}), like recursion=0 does with URLs; the spec says Operation[]',
  },
  // Creations answered with the new object's Location and no metadata: LXD's
  // response.SyncResponseLocation(true, nil, url) sends `"metadata": null`,
  // not the `{}` of the EmptySyncResponse the spec references. Seen from
  // LXD 5.0.2 by the e2e suites (projects, image aliases) and by hand
  // (profiles, network ACLs).
  'POST /1.0/projects': {
    schema: { type: 'null' },
    reason: 'SyncResponseLocation with nil metadata: the server sends null (LXD 5.0.2, e2e)',
  },
  'POST /1.0/images/aliases': {
    schema: { type: 'null' },
    reason: 'SyncResponseLocation with nil metadata: the server sends null (LXD 5.0.2, e2e)',
  },
  'POST /1.0/profiles': {
    schema: { type: 'null' },
    reason: 'SyncResponseLocation with nil metadata: the server sends null (LXD 5.0.2)',
  },
  'POST /1.0/certificates': {
    schema: { anyOf: [{ type: 'null' }, { $ref: '#/definitions/Operation' }] },
    async: true,
    reason:
      'SyncResponseLocation with nil metadata (null, status 201) when a certificate is added; with "token": true (API extension certificate_token) the server answers 202 with the token operation instead (LXD 5.0.2, e2e)',
  },
  'POST /1.0/network-acls': {
    schema: { type: 'null' },
    reason: 'SyncResponseLocation with nil metadata: the server sends null (LXD 5.0.2)',
  },
  'GET /1.0/instances/{name}?recursion=1': {
    schema: { $ref: '#/definitions/InstanceFull' },
    reason:
      'the spec\'s own description says "full struct ... includes state, snapshots and backups" (API extension instance_get_full) but references Instance',
  },
};

/**
 * Fields the server can send as JSON `null` (Go nil slices/maps/pointers that
 * are left unset), as `Definition.field`.
 */
const NULLABLE: Record<string, string> = {
  'InstanceFull.backups': 'nil slice when the instance has no backups',
  'InstanceFull.snapshots': 'nil slice when the instance has no snapshots',
  'InstanceState.network': 'nil map when the instance is not running (LXD 5.0.2, e2e)',
  'Operation.metadata': 'nil map for operations without metadata',
  'Operation.resources': 'nil map for operations without resources',
};

/**
 * Response fields the server leaves out when empty (Go `omitempty`), as
 * `Definition.field`: optional in the types, not `required` in the schema.
 */
const OMITEMPTY: Record<string, string> = {
  'Image.update_source': 'json:"update_source,omitempty": only images that auto-update from a remote have one (LXD 5.0.2, e2e)',
  'Instance.restore': 'json:"restore,omitempty" (InstancePut): only meaningful in a PUT',
  'InstanceFull.restore': 'json:"restore,omitempty" (InstancePut): only meaningful in a PUT',
  'StorageVolume.restore': 'json:"restore,omitempty" (StorageVolumePut): only meaningful in a PUT',
};

/**
 * Response fields of API extensions that the spec (the end of the stable-5.0
 * branch) has but the LXD 5.0.2 server does not send, as `Definition.field`:
 * optional in the types, not `required` in the schema. The value says where
 * the field comes from: a server that lists the extension in
 * `api_extensions` sends it.
 */
const NOT_IN_5_0_2: Record<string, string> = {
  'InstanceStateMemory.total': 'API extension instances_state_total, newer than 5.0.2',
  'Server.auth_user_method': 'API extension auth_user, newer than 5.0.2',
  'Server.auth_user_name': 'API extension auth_user, newer than 5.0.2',
  'ServerEnvironment.instance_types': 'API extension server_instance_type_info, newer than 5.0.2',
  'ServerEnvironment.server_lts': 'added to stable-5.0 after 5.0.2, with no API extension of its own',
};

/** Incus 6.0's own additions to `NULLABLE`. */
const INCUS_NULLABLE: Record<string, string> = {
  'InstanceState.os_info': 'nil pointer when the image has no os-release, as busybox has none (Incus 6.0.4, e2e)',
};

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

// ---------------------------------------------------------------------------
// Helpers

/** Locale-independent, stable string order. */
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedKeys = <T>(o: Record<string, T> | undefined): string[] => Object.keys(o ?? {}).sort(cmp);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const propKey = (k: string): string => (IDENT.test(k) ? k : JSON.stringify(k));

const refName = (ref: string): string => {
  const m = /^#\/definitions\/(.+)$/.exec(ref);
  if (!m?.[1]) throw new Error(`unsupported $ref ${ref}`);
  return m[1];
};

function docComment(lines: string[], indent: string): string {
  const body = lines.join('\n').replace(/\*\//g, '*\\/').trimEnd();
  if (!body) return '';
  const out = body.split('\n').map((l) => `${indent} *${l ? ` ${l}` : ''}`);
  return `${indent}/**\n${out.join('\n')}\n${indent} */\n`;
}

function exampleText(example: unknown): string[] {
  if (typeof example === 'string') return example.split('\n');
  return JSON.stringify(example, null, 2).split('\n');
}

function schemaDoc(s: SwaggerSchema, extra: string[] = []): string[] {
  const lines: string[] = [];
  const text = s.description ?? s.title;
  if (text) lines.push(...text.split('\n'));
  // `extra` starts with a blank separator line, which is dropped when nothing precedes it.
  lines.push(...(lines.length ? extra : extra.slice(extra[0] === '' ? 1 : 0)));
  if (s.example !== undefined) {
    if (lines.length) lines.push('');
    lines.push('@example', ...exampleText(s.example));
  }
  if (s.readOnly) {
    if (lines.length) lines.push('');
    lines.push('@readonly');
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Analysis

interface RouteOp {
  query: Map<string, SwaggerParameter>;
  body: SwaggerSchema | undefined;
  /** Metadata schema per recursion level (0 = plain path key). */
  variants: Map<number, SwaggerSchema | undefined>;
  /** Whether the documented success responses include 202 (async). */
  async: boolean;
  sync: boolean;
  summary: string | undefined;
}

/**
 * The descriptions this generator knows, by sha256: where each comes from, so
 * that anyone can fetch the same file and get the same output. A description
 * whose digest is not here is refused: generating from another revision is a
 * change to review (add its entry, regenerate, run the e2e schema check).
 */
interface Description {
  repository: string;
  ref: string;
  path: string;
  /** Whose description it is: names the output files and types. */
  server: 'lxd' | 'incus';
  /** The server and version the types describe, for doc comments. */
  title: string;
}

const DESCRIPTIONS: Record<string, Description> = {
  f59fa816bc19156be5005eeab30a18dabf64b653d923acf781041f24f4c70d32: {
    repository: 'canonical/lxd',
    ref: 'the stable-5.0 branch',
    path: 'doc/rest-api.yaml',
    server: 'lxd',
    title: 'LXD 5.0',
  },
  '8bc620c59016451a0c7f2d312ab9a2612aa294b31fbf77edcc64aeafdeb58ba3': {
    repository: 'lxc/incus',
    ref: 'tag v6.0.4',
    path: 'doc/rest-api.yaml',
    server: 'incus',
    title: 'Incus 6.0',
  },
};

const describeSource = (d: { repository: string; ref: string; path: string }): string =>
  `${d.path} of ${d.ref} of https://github.com/${d.repository}`;

function main(): void {
  const [specArg, outArg] = process.argv.slice(2);
  if (!specArg) {
    console.error('usage: npm run gen-types -- <rest-api.yaml> [out-root]');
    console.error('known descriptions (sha256):');
    for (const [digest, d] of Object.entries(DESCRIPTIONS)) console.error(`  ${digest}  ${describeSource(d)}`);
    process.exit(2);
  }
  const specPath = resolve(specArg);
  const root = resolve(outArg ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const raw = readFileSync(specPath);
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const source = DESCRIPTIONS[sha256];
  if (!source) {
    console.error(`gen-types: ${specPath} has sha256 ${sha256}, which is none of the known descriptions:`);
    for (const [digest, d] of Object.entries(DESCRIPTIONS)) console.error(`  ${digest}  ${describeSource(d)}`);
    console.error('Fetch one of those, or add the new one to DESCRIPTIONS in scripts/gen-types.ts.');
    process.exit(1);
  }
  const spec = parse(raw.toString('utf8')) as Swagger;
  const prefix = source.server;
  const Prefix = prefix === 'lxd' ? 'Lxd' : 'Incus';
  const nullable: Record<string, string> = prefix === 'incus' ? { ...NULLABLE, ...INCUS_NULLABLE } : NULLABLE;
  const notSent: Record<string, string> = prefix === 'lxd' ? NOT_IN_5_0_2 : {};
  if (spec.swagger !== '2.0') throw new Error(`expected a Swagger 2.0 document, got ${spec.swagger}`);

  const header = [
    `// Generated by scripts/gen-types.ts from ${basename(specPath)} — DO NOT EDIT.`,
    `// Source: ${spec.info.title ?? 'LXD REST API'}, info.version ${JSON.stringify(spec.info.version ?? '')},`,
    `// ${describeSource(source)}`,
    `// (sha256 ${sha256}).`,
    `// The source description is licensed ${spec.info.license?.name ?? 'Apache-2.0'}.`,
    '// Regenerate with: npm run gen-types -- <path/to/rest-api.yaml>',
  ];

  const defs = spec.definitions;

  // ---- routes
  const routes = new Map<string, Map<Method, RouteOp>>();
  const overridesUsed = new Set<string>();
  for (const key of sortedKeys(spec.paths)) {
    const qIdx = key.indexOf('?');
    const path = qIdx < 0 ? key : key.slice(0, qIdx);
    const qs = qIdx < 0 ? '' : key.slice(qIdx + 1);
    const flags = qs ? qs.split('&') : [];
    const isPublic = flags.includes('public');
    let recursion = 0;
    for (const f of flags) {
      const m = /^recursion=(\d+)$/.exec(f);
      if (m) recursion = Number(m[1]);
      else if (f !== 'public') throw new Error(`unexpected query in path key ${key}`);
    }
    const ops = spec.paths[key] ?? {};
    for (const lower of sortedKeys(ops)) {
      const method = lower.toUpperCase() as Method;
      if (!METHODS.includes(method)) continue; // HEAD etc.: not a verb of the client
      const op = ops[lower] as SwaggerOperation;
      let byMethod = routes.get(path);
      if (!byMethod) {
        byMethod = new Map();
        routes.set(path, byMethod);
      }
      let r = byMethod.get(method);
      if (!r) {
        r = {
          query: new Map(),
          body: undefined,
          variants: new Map(),
          async: false,
          sync: false,
          summary: undefined,
        };
        byMethod.set(method, r);
      }
      for (const p of op.parameters ?? []) {
        if (p.in === 'query' && !r.query.has(p.name)) r.query.set(p.name, p);
        if (p.in === 'body' && p.schema && !isPublic) r.body = p.schema;
        if (p.in === 'body' && p.schema && isPublic && !r.body) r.body = p.schema;
      }
      if (!isPublic && !r.summary) r.summary = op.summary;
      // `?public` keys document what an untrusted client sees; the trusted
      // response (a superset) is what the types describe. Only use a public
      // key's response when no other key documents this recursion level.
      if (isPublic && r.variants.has(recursion)) continue;
      let found = false;
      for (const code of sortedKeys(op.responses)) {
        if (!/^2\d\d$/.test(code)) continue;
        let resp = op.responses?.[code] as SwaggerResponse;
        if (resp.$ref) resp = spec.responses[resp.$ref.replace(/^#\/responses\//, '')] ?? resp;
        if (code === '202') r.async = true;
        else r.sync = true;
        const md = resp.schema?.properties?.metadata;
        // A response schema with properties but no `metadata` is LXD's
        // EmptySyncResponse: the server sends `"metadata": {}`.
        const isEmpty = !md && !resp.schema?.$ref && resp.schema?.properties !== undefined;
        const m: SwaggerSchema | undefined =
          md ?? (isEmpty ? { type: 'object', additionalProperties: false } : undefined);
        if (!m) continue;
        // Several documented success shapes (e.g. 200 and 202) become a union.
        const prev = found ? r.variants.get(recursion) : undefined;
        const prevList = prev ? ((prev as { anyOf?: SwaggerSchema[] }).anyOf ?? [prev]) : [];
        const same = prevList.some((x) => JSON.stringify(x) === JSON.stringify(m));
        r.variants.set(recursion, prev && !same ? ({ anyOf: [...prevList, m] } as SwaggerSchema) : (prev ?? m));
        found = true;
      }
      if (!found) r.variants.set(recursion, undefined);
      const ov = METADATA_OVERRIDES[`${method} ${key}`];
      if (ov) {
        r.variants.set(recursion, ov.schema);
        if (ov.async) r.async = true;
        overridesUsed.add(`${method} ${key}`);
      }
    }
  }
  for (const k of Object.keys(METADATA_OVERRIDES))
    if (!overridesUsed.has(k)) throw new Error(`override ${k} matches nothing`);
  for (const k of [...Object.keys(nullable), ...Object.keys(OMITEMPTY), ...Object.keys(notSent)]) {
    const [d, f] = k.split('.') as [string, string];
    if (!defs[d]?.properties?.[f]) throw new Error(`correction ${k} matches nothing`);
  }

  // ---- which definitions are request-side / response-side
  const collectRefs = (s: SwaggerSchema | undefined, out: Set<string>): void => {
    if (!s) return;
    if (s.$ref) {
      const n = refName(s.$ref);
      if (!out.has(n)) {
        out.add(n);
        collectRefs(defs[n], out);
      }
      return;
    }
    collectRefs(s.items, out);
    if (typeof s.additionalProperties === 'object') collectRefs(s.additionalProperties, out);
    for (const p of Object.values(s.properties ?? {})) collectRefs(p, out);
    for (const x of s.allOf ?? []) collectRefs(x, out);
    for (const x of (s as { anyOf?: SwaggerSchema[] }).anyOf ?? []) collectRefs(x, out);
  };
  const requestSide = new Set<string>();
  const responseSide = new Set<string>();
  for (const byMethod of routes.values())
    for (const r of byMethod.values()) {
      collectRefs(r.body, requestSide);
      for (const v of r.variants.values()) collectRefs(v, responseSide);
    }
  const isRequestOnly = (n: string): boolean => requestSide.has(n) && !responseSide.has(n);
  const hasRequestVariant = (n: string): boolean => requestSide.has(n) && responseSide.has(n);

  // ---- TypeScript types
  const tsType = (s: SwaggerSchema | undefined, side: 'response' | 'request', prefix = ''): string => {
    if (!s) return 'unknown';
    if (s.$ref) {
      const n = refName(s.$ref);
      return prefix + (side === 'request' && hasRequestVariant(n) ? `${n}Request` : n);
    }
    const anyOf = (s as { anyOf?: SwaggerSchema[] }).anyOf;
    if (anyOf) return anyOf.map((x) => tsType(x, side, prefix)).join(' | ');
    switch (s.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array': {
        const t = tsType(s.items, side, prefix);
        return /[ |&]/.test(t) ? `Array<${t}>` : `${t}[]`;
      }
      case 'object':
      case undefined: {
        if (s.properties && Object.keys(s.properties).length) {
          const fields = sortedKeys(s.properties).map(
            (k) => `${propKey(k)}${side === 'request' ? '?' : ''}: ${tsType(s.properties?.[k], side, prefix)}`,
          );
          return `{ ${fields.join('; ')} }`;
        }
        if (s.additionalProperties === false) return 'EmptyMetadata';
        if (typeof s.additionalProperties === 'object') {
          const v = s.additionalProperties;
          return `Record<string, ${v.type || v.$ref || v.additionalProperties ? tsType(v, side, prefix) : 'unknown'}>`;
        }
        return 'Record<string, unknown>';
      }
      default:
        throw new Error(`unsupported swagger type ${s.type}`);
    }
  };

  const typeOut: string[] = [...header, ''];
  typeOut.push(
    docComment(
      ['Metadata of LXD\'s "empty sync response" (`{}`), sent by most PUT, PATCH,', 'DELETE and some POST requests.'],
      '',
    ) + 'export type EmptyMetadata = Record<string, never>;',
    '',
  );
  const emitDef = (name: string, d: SwaggerSchema, side: 'response' | 'request', tsName: string): void => {
    const extra: string[] = [];
    if (!d.properties) {
      // scalar alias: nothing to make optional
    } else if (side === 'request' && hasRequestVariant(name))
      extra.push('', `Request-body variant of {@link ${name}}: every field is optional.`);
    else if (side === 'request') extra.push('', 'Used as a request body: every field is optional.');
    const { example: _example, ...withoutExample } = d;
    const doc = docComment(schemaDoc(withoutExample, extra), '');
    if (d.type !== 'object' || !d.properties) {
      typeOut.push(`${doc}export type ${tsName} = ${tsType(d, side)};`, '');
      return;
    }
    const required = new Set(d.required ?? []);
    const lines: string[] = [`${doc}export interface ${tsName} {`];
    for (const k of sortedKeys(d.properties)) {
      const p = d.properties[k] as SwaggerSchema;
      const nullReason = nullable[`${name}.${k}`];
      const omitReason = OMITEMPTY[`${name}.${k}`];
      const newer = notSent[`${name}.${k}`];
      const pExtra: string[] = [];
      if (side === 'response' && nullReason) pExtra.push('', `\`null\` when: ${nullReason}.`);
      if (side === 'response' && omitReason) pExtra.push('', `Left out when empty: ${omitReason}.`);
      if (side === 'response' && newer) pExtra.push('', `Not sent by LXD 5.0.2: ${newer}.`);
      lines.push(docComment(schemaDoc(p, pExtra), '  ').trimEnd());
      const opt = (side === 'request' && !required.has(k)) || (side === 'response' && (omitReason || newer)) ? '?' : '';
      let t = tsType(p, side);
      if (side === 'response' && nullReason) t += ' | null';
      lines.push(`  ${propKey(k)}${opt}: ${t};`);
    }
    lines.push('}', '');
    typeOut.push(lines.filter((l) => l !== '').join('\n'), '');
  };
  for (const name of sortedKeys(defs)) {
    const d = defs[name] as SwaggerSchema;
    if (isRequestOnly(name)) emitDef(name, d, 'request', name);
    else {
      emitDef(name, d, 'response', name);
      if (hasRequestVariant(name)) {
        if (defs[`${name}Request`]) throw new Error(`name clash: ${name}Request`);
        emitDef(name, d, 'request', `${name}Request`);
      }
    }
  }

  // ---- route map + trie
  const routeOut: string[] = [...header, ''];
  routeOut.push(`import type * as T from './${prefix}-types.ts';`, '');
  routeOut.push(
    docComment(
      [
        `Every documented path and method of the ${source.title} REST API.`,
        '',
        '- `query`: documented query parameters (plus `recursion` where the spec',
        '  documents recursion variants);',
        '- `body`: JSON request body (`unknown` when none or not JSON);',
        '- `response`: type of the response `metadata` (recursion=0);',
        '- `recursion`: metadata per recursion level, where documented;',
        '- `async`: whether the request is documented to return an operation.',
      ],
      '',
    ) + `export interface ${Prefix}Routes {`,
  );
  const paths = [...routes.keys()].sort(cmp);
  for (const path of paths) {
    const byMethod = routes.get(path) as Map<Method, RouteOp>;
    routeOut.push(`  ${JSON.stringify(path)}: {`);
    for (const method of METHODS) {
      const r = byMethod.get(method);
      if (!r) continue;
      const q = [...r.query.keys()].sort(cmp).map((k) => {
        const p = r.query.get(k) as SwaggerParameter;
        const t = p.type === 'boolean' ? 'boolean' : p.type === 'integer' || p.type === 'number' ? 'number' : 'string';
        return `${propKey(k)}?: ${t}`;
      });
      const levels = [...r.variants.keys()].sort((a, b) => a - b);
      if (levels.some((l) => l > 0)) q.push(`recursion?: ${[0, ...levels.filter((l) => l > 0)].join(' | ')}`);
      q.sort(cmp);
      const fields = [
        `query: ${q.length ? `{ ${q.join('; ')} }` : 'Record<never, never>'}`,
        `body: ${r.body ? tsType(r.body, 'request', 'T.') : 'unknown'}`,
        `response: ${r.variants.has(0) ? tsType(r.variants.get(0), 'response', 'T.') : 'unknown'}`,
      ].map((f) => f.replace(/\bEmptyMetadata\b/g, 'T.EmptyMetadata'));
      const rec = levels.filter((l) => l > 0).map((l) => `${l}: ${tsType(r.variants.get(l), 'response', 'T.')}`);
      if (rec.length) fields.push(`recursion: { ${rec.join('; ')} }`);
      fields.push(`async: ${r.async && !r.sync ? 'true' : r.async ? 'boolean' : 'false'}`);
      if (r.summary) routeOut.push(docComment([r.summary], '    ').trimEnd());
      routeOut.push(`    ${method}: { ${fields.join('; ')} };`);
    }
    routeOut.push('  };');
  }
  routeOut.push('}', '');

  // Segment trie: literal segments are keys, `*` is a `{param}` segment and
  // `$` holds the route key of the path ending at that node.
  interface Trie {
    $?: string;
    children: Map<string, Trie>;
  }
  const trie: Trie = { children: new Map() };
  for (const path of paths) {
    let node = trie;
    for (const seg of path.split('/').slice(1)) {
      if (seg === '') continue; // the root path "/"
      const k = /^\{.+\}$/.test(seg) ? '*' : seg;
      let next = node.children.get(k);
      if (!next) {
        next = { children: new Map() };
        node.children.set(k, next);
      }
      node = next;
    }
    node.$ = path;
  }
  const emitTrie = (node: Trie, indent: string): string[] => {
    const out: string[] = [];
    if (node.$ !== undefined) out.push(`${indent}$: ${JSON.stringify(node.$)};`);
    for (const k of [...node.children.keys()].sort(cmp)) {
      out.push(`${indent}${propKey(k)}: {`, ...emitTrie(node.children.get(k) as Trie, `${indent}  `), `${indent}};`);
    }
    return out;
  };
  routeOut.push(
    docComment(
      [
        `The route keys of {@link ${Prefix}Routes} as a trie of path segments: a literal`,
        'segment is a key, `*` stands for a `{param}` segment and `$` is the route',
        'key of the path that ends at that node. The root path `/` is the top `$`.',
      ],
      '',
    ) + `export interface ${Prefix}RouteTrie {`,
    ...emitTrie(trie, '  '),
    '}',
    '',
  );

  // ---- JSON Schema
  const jsonSchema = (s: SwaggerSchema | undefined, strict: boolean): Record<string, unknown> => {
    if (!s) return {};
    if (s.$ref) return { $ref: `#/definitions/${refName(s.$ref)}` };
    const anyOf = (s as { anyOf?: SwaggerSchema[] }).anyOf;
    if (anyOf) return { anyOf: anyOf.map((x) => jsonSchema(x, strict)) };
    switch (s.type) {
      case 'string':
        return { type: 'string' };
      case 'integer':
        return s.format?.startsWith('uint') ? { type: 'integer', minimum: 0 } : { type: 'integer' };
      case 'number':
        return { type: 'number' };
      case 'boolean':
        return { type: 'boolean' };
      case 'null':
        return { type: 'null' };
      case 'array':
        return { type: 'array', items: jsonSchema(s.items, strict) };
      default: {
        // `{}` (go-swagger's rendering of `interface{}`): any JSON value.
        if (s.type === undefined && !s.properties && s.additionalProperties === undefined) return {};
        if (s.properties && Object.keys(s.properties).length) {
          const props: Record<string, unknown> = {};
          for (const k of sortedKeys(s.properties)) props[k] = jsonSchema(s.properties[k], strict);
          return strict
            ? {
                type: 'object',
                properties: props,
                required: sortedKeys(s.properties),
                additionalProperties: false,
              }
            : { type: 'object', properties: props };
        }
        if (s.additionalProperties === false) return { type: 'object', maxProperties: 0 };
        if (typeof s.additionalProperties === 'object')
          return {
            type: 'object',
            additionalProperties: jsonSchema(s.additionalProperties, strict),
          };
        return { type: 'object' };
      }
    }
  };
  const schemaDefs: Record<string, unknown> = {};
  for (const name of sortedKeys(defs)) {
    const d = defs[name] as SwaggerSchema;
    const strict = !isRequestOnly(name);
    const js = jsonSchema(d, strict) as {
      properties?: Record<string, Record<string, unknown>>;
      required?: string[];
    };
    if (strict && js.required) js.required = js.required.filter((k) => !OMITEMPTY[`${name}.${k}`] && !notSent[`${name}.${k}`]);
    if (strict && js.properties) {
      for (const k of Object.keys(js.properties)) {
        if (!nullable[`${name}.${k}`]) continue;
        js.properties[k] = { anyOf: [js.properties[k], { type: 'null' }] };
      }
    }
    schemaDefs[name] = js;
  }
  const schemaRoutes: Record<string, Record<string, unknown>> = {};
  for (const path of paths) {
    const byMethod = routes.get(path) as Map<Method, RouteOp>;
    const entry: Record<string, unknown> = {};
    for (const method of METHODS) {
      const r = byMethod.get(method);
      if (!r) continue;
      const metadata: Record<string, unknown> = {};
      for (const l of [...r.variants.keys()].sort((a, b) => a - b)) {
        const v = r.variants.get(l);
        metadata[String(l)] = v ? jsonSchema(v, true) : null;
      }
      entry[method] = { async: r.async, metadata, sync: r.sync };
    }
    schemaRoutes[path] = entry;
  }
  const schemaDoc_ = {
    $comment: header.map((l) => l.replace(/^\/\/ /, '')).join(' '),
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: prefix === 'lxd' ? 'lxd-rest-api-5.0' : 'incus-rest-api-6.0',
    definitions: schemaDefs,
    'x-routes': schemaRoutes,
  };

  const write = (rel: string, text: string): void => {
    const file = join(root, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  write(`src/generated/${prefix}-types.ts`, `${typeOut.join('\n').trimEnd()}\n`);
  write(`src/generated/${prefix}-routes.ts`, `${routeOut.join('\n').trimEnd()}\n`);
  write(`test/generated/${prefix}-schema.json`, `${JSON.stringify(schemaDoc_, null, 1)}\n`);
}

main();
