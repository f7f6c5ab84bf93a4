// The drift test's comparisons catch drift: a synthetic OpenAPI document
// against a synthetic SDK file, each differing in one way.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import { checkRequests, compareInterfaces, sdkInterfaces } from "../helpers/drift.mjs";

const dir = mkdtempSync(join(tmpdir(), "paddock-drift-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, "wire.ts");
writeFileSync(
  file,
  `export interface Stats { cpu: number }
export interface Result {
  stdout: string;
  exit_code: number;
  stats?: Stats | null;
  child: Result | null;
  kind: "a" | "b";
  tags: string[];
}
export interface Extra { only_in_sdk: string; shared: number }
export interface Unpublished { x: number }
export type NotAnInterface = string;
`,
);

const schemas = {
  Result: {
    allOf: [
      { $ref: "#/components/schemas/Base" },
      {
        type: "object",
        required: ["exit_code", "kind", "tags"],
        properties: {
          exit_code: { type: "integer" },
          stats: { type: ["object", "null"] },
          child: { oneOf: [{ type: "null" }, { $ref: "#/components/schemas/Result" }] },
          kind: { type: "string", enum: ["a", "b"] },
          tags: { type: "array", items: { type: "string" } },
        },
      },
    ],
  },
  Base: { type: "object", required: ["stdout"], properties: { stdout: { type: "string" } } },
  Extra: { type: "object", required: ["shared", "only_in_server"], properties: { shared: { type: "integer" }, only_in_server: { type: "string" } } },
  Stats: { type: "object", required: ["cpu"], properties: { cpu: { type: "integer" } } },
};
const doc = (overrides = {}) => ({ openapi: "3.1.0", paths: {}, components: { schemas: { ...schemas, ...overrides } } });

describe("compareInterfaces", () => {
  const interfaces = sdkInterfaces(file);

  it("reads exported interfaces only, with optionality and kinds", () => {
    assert.deepEqual([...interfaces.keys()].sort(), ["Extra", "Result", "Stats", "Unpublished"]);
    const result = interfaces.get("Result");
    assert.equal(result.get("stdout").guaranteed, true);
    assert.equal(result.get("stats").guaranteed, false);
    assert.equal(result.get("child").guaranteed, false);
    assert.deepEqual([...result.get("kind").kinds], ["string"]);
    assert.deepEqual([...result.get("tags").kinds], ["array"]);
  });

  it("agrees when names, optionality and kinds match (allOf, $ref, oneOf null, enums)", () => {
    const { problems, checked, missing } = compareInterfaces(new Map([...interfaces].filter(([n]) => n !== "Extra")), doc());
    assert.deepEqual(problems, []);
    assert.deepEqual(checked.sort(), ["Result", "Stats"]);
    assert.deepEqual(missing, ["Unpublished"]);
  });

  it("reports properties missing on either side", () => {
    const { problems } = compareInterfaces(interfaces, doc());
    assert.deepEqual(problems.sort(), [
      "Extra.only_in_sdk: in the SDK (string) but not in the server's schema",
      "Extra.only_in_server: in the server's schema but not in the SDK",
    ]);
  });

  it("reports optionality drift both ways", () => {
    const stricter = structuredClone(schemas.Result);
    stricter.allOf[1].required.push("child"); // still nullable: no drift
    assert.deepEqual(compareInterfaces(interfaces, doc({ Result: stricter, Extra: undefined })).problems, []);
    stricter.allOf[1].properties.child = { $ref: "#/components/schemas/Result" };
    const { problems } = compareInterfaces(interfaces, doc({ Result: stricter, Extra: undefined }));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^Result\.child: the server's schema says always present and non-null, the SDK optional or nullable/);

    const looser = structuredClone(schemas.Result);
    looser.allOf[1].required = ["kind", "tags"];
    const loose = compareInterfaces(interfaces, doc({ Result: looser, Extra: undefined })).problems;
    assert.equal(loose.length, 1);
    assert.match(loose[0], /^Result\.exit_code: the server's schema says optional or nullable, the SDK always present/);
  });

  it("reports kind drift", () => {
    const wrong = structuredClone(schemas.Result);
    wrong.allOf[1].properties.exit_code = { type: "string" };
    const { problems } = compareInterfaces(interfaces, doc({ Result: wrong, Extra: undefined }));
    assert.deepEqual(problems, ["Result.exit_code: the server says string, the SDK number"]);
  });
});

describe("checkRequests", () => {
  const api = {
    openapi: "3.1.0",
    paths: {
      "/v1/things": {
        post: {
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/NewThing" } } } },
        },
        get: { parameters: [{ name: "limit", in: "query" }] },
      },
      "/v1/things/{id}": { get: {} },
      "/v1/things/special": { post: {} },
    },
    components: {
      schemas: {
        NewThing: {
          allOf: [
            { $ref: "#/components/schemas/Opts" },
            {
              type: "object",
              required: ["name"],
              properties: {
                name: { type: "string" },
                parts: { type: "array", items: { $ref: "#/components/schemas/Part" } },
                scopes: { type: "object", additionalProperties: { type: "array", items: { type: "string" } } },
              },
            },
          ],
        },
        Opts: { type: "object", properties: { memory_mb: { type: ["integer", "null"] } } },
        Part: { type: "object", required: ["code"], properties: { code: { type: "string" } } },
      },
    },
  };
  const call = (method, path, body, query = {}) => ({ method, path, body, query });

  it("accepts declared bodies and queries, and lists unpublished routes", () => {
    const { problems, checked, unpublished } = checkRequests(
      [
        call("POST", "/v1/things", { name: "a", memory_mb: 1, parts: [{ code: "x" }], scopes: { any: ["/x"] } }),
        call("GET", "/v1/things", undefined, { limit: "1" }),
        call("GET", "/v1/things/t_1"),
        call("GET", "/v1/other"),
      ],
      api,
    );
    assert.deepEqual(problems, []);
    assert.equal(checked, 3);
    assert.deepEqual(unpublished, ["GET /v1/other"]);
  });

  it("checks the content type of bodies sent as they are (files, tars)", () => {
    const files = {
      openapi: "3.1.0",
      paths: {
        "/v1/file": {
          put: {
            parameters: [{ name: "path", in: "query" }],
            requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "array" } } } },
          },
        },
      },
      components: { schemas: {} },
    };
    const raw = (contentType) => ({ method: "PUT", path: "/v1/file", query: { path: "a" }, raw: "x", contentType });
    assert.deepEqual(checkRequests([raw("application/octet-stream")], files).problems, []);
    assert.deepEqual(checkRequests([raw("application/x-tar")], files).problems, [
      "PUT /v1/file: the SDK sends application/x-tar, the route takes application/octet-stream",
    ]);
  });

  it("reports unknown fields (also nested), missing required ones, undeclared queries and bodies", () => {
    const { problems } = checkRequests(
      [
        call("POST", "/v1/things", { nmae: "a", parts: [{ code: "x", memoryMb: 1 }] }),
        call("POST", "/v1/things"),
        call("GET", "/v1/things", undefined, { limit: "1", offset: "2" }),
        call("POST", "/v1/things/special", { x: 1 }),
      ],
      api,
    );
    assert.deepEqual(problems, [
      "POST /v1/things body.nmae: sent by the SDK, not in the schema",
      "POST /v1/things body.parts[0].memoryMb: sent by the SDK, not in the schema",
      "POST /v1/things body.name: required by the schema, not sent by the SDK",
      "POST /v1/things: the route requires a body, the SDK sends none",
      "GET /v1/things: query parameter offset is not declared",
      "POST /v1/things/special: the SDK sends a body, the route declares none",
    ]);
  });
});
