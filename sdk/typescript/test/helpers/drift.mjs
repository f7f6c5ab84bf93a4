// The comparisons of the drift test (test/integration/drift.test.mjs),
// kept apart so that test/unit/drift.test.mjs can show they catch drift.
import assert from "node:assert/strict";

import ts from "typescript";

// ---------------------------------------------------------------- TypeScript

/**
 * The interfaces exported from a .ts file, read with the compiler API:
 * name → Map(property → {guaranteed, kinds, text}). `guaranteed` means
 * required and neither `null` nor `undefined`.
 */
export function sdkInterfaces(file) {
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  assert.equal(diagnostics.length, 0, ts.formatDiagnostics(diagnostics, ts.createCompilerHost({})));
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(file));
  const out = new Map();
  for (const symbol of checker.getExportsOfModule(module)) {
    const declaration = symbol.declarations?.find(ts.isInterfaceDeclaration);
    if (!declaration) continue;
    const props = new Map();
    for (const prop of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol))) {
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
      const type = checker.getTypeOfSymbolAtLocation(prop, declaration);
      const parts = type.isUnion() ? type.types : [type];
      const empty = ts.TypeFlags.Null | ts.TypeFlags.Undefined;
      const nullable = parts.some((t) => t.flags & empty);
      const kinds = new Set(parts.filter((t) => !(t.flags & empty)).map((t) => tsKind(checker, t)));
      props.set(prop.name, { guaranteed: !optional && !nullable, kinds, text: checker.typeToString(type) });
    }
    out.set(symbol.name, props);
  }
  return out;
}

function tsKind(checker, type) {
  const f = type.flags;
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return "any";
  if (f & ts.TypeFlags.StringLike) return "string";
  if (f & ts.TypeFlags.NumberLike) return "number";
  if (f & ts.TypeFlags.BooleanLike) return "boolean";
  if (checker.isArrayType(type) || checker.isTupleType(type)) return "array";
  if (type.isIntersection()) return tsKind(checker, type.types[0]); // `string & {}`
  if (f & ts.TypeFlags.Object) return "object";
  return "any";
}

// ---------------------------------------------------------------- OpenAPI

/** Reads schemas of one OpenAPI document. */
export class OpenApi {
  constructor(doc) {
    this.doc = doc;
  }

  get schemas() {
    return this.doc.components?.schemas ?? {};
  }

  /** `schema` with `$ref`s followed. */
  deref(schema) {
    let s = schema;
    const seen = new Set();
    while (s && s.$ref) {
      if (seen.has(s.$ref)) throw new Error(`circular ${s.$ref}`);
      seen.add(s.$ref);
      s = this.schemas[s.$ref.replace(/^#\/components\/schemas\//, "")];
      if (!s) throw new Error(`dangling ${[...seen].at(-1)}`);
    }
    return s ?? {};
  }

  /** An object schema with `allOf` merged: {properties, required, additionalProperties}. */
  object(schema) {
    const s = this.deref(schema);
    const out = {
      properties: { ...(s.properties ?? {}) },
      required: new Set(s.required ?? []),
      additionalProperties: s.additionalProperties,
    };
    for (const part of s.allOf ?? []) {
      const merged = this.object(part);
      Object.assign(out.properties, merged.properties);
      merged.required.forEach((r) => out.required.add(r));
      out.additionalProperties ??= merged.additionalProperties;
    }
    return out;
  }

  /** {nullable, kinds} of a property's schema. */
  describe(schema) {
    const s = schema.$ref ? { ...this.deref(schema), nullable: schema.nullable } : schema;
    const kinds = new Set();
    let nullable = s.nullable === true;
    for (const branch of [...(s.oneOf ?? []), ...(s.anyOf ?? [])]) {
      const d = this.describe(branch);
      nullable ||= d.nullable;
      d.kinds.forEach((k) => kinds.add(k));
    }
    if (s.allOf) kinds.add("object");
    for (const t of s.type === undefined ? [] : [s.type].flat()) {
      if (t === "null") nullable = true;
      else kinds.add(t === "integer" ? "number" : t);
    }
    for (const v of s.enum ?? []) {
      if (v === null) nullable = true;
      else kinds.add(typeof v);
    }
    if (kinds.size === 0 && (s.properties || s.additionalProperties)) kinds.add("object");
    if (kinds.size === 0) kinds.add("any");
    return { nullable, kinds };
  }
}

/**
 * Compares the SDK's interfaces with the same-named component schemas.
 * Returns {problems, checked, missing, unmatched}.
 */
export function compareInterfaces(interfaces, doc) {
  const api = new OpenApi(doc);
  const problems = [];
  const checked = [];
  const missing = [];
  const always = (yes) => (yes ? "always present and non-null" : "optional or nullable");
  for (const [name, props] of interfaces) {
    if (!api.schemas[name]) {
      missing.push(name);
      continue;
    }
    checked.push(name);
    const schema = api.object(api.schemas[name]);
    for (const [prop, sdk] of props) {
      const wire = schema.properties[prop];
      if (!wire) {
        problems.push(`${name}.${prop}: in the SDK (${sdk.text}) but not in the server's schema`);
        continue;
      }
      const d = api.describe(wire);
      const guaranteed = schema.required.has(prop) && !d.nullable;
      if (guaranteed !== sdk.guaranteed) {
        problems.push(`${name}.${prop}: the server's schema says ${always(guaranteed)}, the SDK ${always(sdk.guaranteed)} (${sdk.text})`);
      }
      if (!sdk.kinds.has("any") && !d.kinds.has("any") && ![...sdk.kinds].some((k) => d.kinds.has(k))) {
        problems.push(`${name}.${prop}: the server says ${[...d.kinds].join("|")}, the SDK ${[...sdk.kinds].join("|")}`);
      }
    }
    for (const prop of Object.keys(schema.properties)) {
      if (!props.has(prop)) problems.push(`${name}.${prop}: in the server's schema but not in the SDK`);
    }
  }
  const unmatched = Object.keys(api.schemas).filter((n) => !interfaces.has(n));
  return { problems, checked, missing, unmatched };
}

/**
 * Checks requests the SDK made (fake-fetch calls) against the routes'
 * declared query parameters and request bodies. Returns {problems,
 * checked, unpublished}.
 */
export function checkRequests(calls, doc) {
  const api = new OpenApi(doc);
  const templates = Object.keys(doc.paths ?? {})
    .map((path) => ({
      path,
      params: (path.match(/\{/g) ?? []).length,
      regex: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }))
    .sort((a, b) => a.params - b.params);
  const problems = [];
  const unpublished = new Set();
  let checked = 0;
  for (const sent of calls) {
    const route = `${sent.method} ${sent.path}`;
    const template = templates.find((tpl) => tpl.regex.test(sent.path));
    const operation = template && doc.paths[template.path][sent.method.toLowerCase()];
    if (!operation) {
      unpublished.add(route);
      continue;
    }
    checked++;
    const declared = new Set(
      (operation.parameters ?? [])
        .map((p) => (p.$ref ? api.deref(p) : p))
        .filter((p) => p.in === "query")
        .map((p) => p.name),
    );
    for (const key of Object.keys(sent.query)) {
      if (!declared.has(key)) problems.push(`${route}: query parameter ${key} is not declared`);
    }
    const bodySchema = operation.requestBody?.content?.["application/json"]?.schema;
    if (sent.raw !== undefined) {
      // A body sent as it is (a file, a tar): the route must take its content type.
      const types = Object.keys(operation.requestBody?.content ?? {});
      if (!types.includes(sent.contentType)) {
        problems.push(`${route}: the SDK sends ${sent.contentType}, the route takes ${types.join(", ") || "no body"}`);
      }
    } else if (sent.body !== undefined) {
      if (!bodySchema) problems.push(`${route}: the SDK sends a body, the route declares none`);
      else checkValue(api, sent.body, bodySchema, `${route} body`, problems);
    } else if (operation.requestBody?.required) {
      problems.push(`${route}: the route requires a body, the SDK sends none`);
    }
  }
  return { problems, checked, unpublished: [...unpublished] };
}

function checkValue(api, value, schema, where, problems) {
  const s = api.deref(schema);
  const branches = [...(s.oneOf ?? []), ...(s.anyOf ?? [])];
  if (branches.length > 0) {
    const results = branches.map((branch) => {
      const local = [];
      checkValue(api, value, branch, where, local);
      return local;
    });
    if (!results.some((r) => r.length === 0)) problems.push(...results[0]);
    return;
  }
  if (Array.isArray(value)) {
    if (s.items && !Array.isArray(s.items)) {
      value.forEach((item, i) => checkValue(api, item, s.items, `${where}[${i}]`, problems));
    }
    return;
  }
  if (value === null || typeof value !== "object") return;
  const object = api.object(s);
  const named = Object.keys(object.properties).length > 0;
  for (const [key, item] of Object.entries(value)) {
    if (object.properties[key]) checkValue(api, item, object.properties[key], `${where}.${key}`, problems);
    else if (object.additionalProperties && typeof object.additionalProperties === "object") {
      checkValue(api, item, object.additionalProperties, `${where}.${key}`, problems);
    } else if (named || object.additionalProperties === false) {
      problems.push(`${where}.${key}: sent by the SDK, not in the schema`);
    }
  }
  for (const key of object.required) {
    if (!(key in value)) problems.push(`${where}.${key}: required by the schema, not sent by the SDK`);
  }
}
