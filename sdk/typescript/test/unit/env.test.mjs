// Configuration from the environment: baseUrl from PADDOCK_URL, apiKey
// from PADDOCK_API_KEY (else AGENTJAIL_API_KEY, the name of the agentjail
// SDK's examples), explicit options first, and errors that say which
// variable to set when neither gives a value.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";

import { API_KEY_ENV, DEFAULT_BASE_URL, Paddock, PaddockError, URL_ENV } from "../../dist/esm/index.js";
import { fakeFetch, json } from "../helpers/fake.mjs";

const NAMES = ["PADDOCK_URL", "PADDOCK_API_KEY", "AGENTJAIL_API_KEY"];
let saved;

beforeEach(() => {
  saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));
  for (const name of NAMES) delete process.env[name];
});

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** The URL and Authorization header of one call by a client built with `options`. */
async function sent(options = {}, response = json(200, {})) {
  const fetch = fakeFetch(response);
  await new Paddock({ ...options, fetch }).whoami();
  return { url: fetch.calls[0].url, authorization: fetch.calls[0].headers.authorization };
}

describe("options from the environment", () => {
  it("exports the variable names", () => {
    assert.equal(URL_ENV, "PADDOCK_URL");
    assert.deepEqual(API_KEY_ENV, ["PADDOCK_API_KEY", "AGENTJAIL_API_KEY"]);
  });

  it("reads PADDOCK_URL and PADDOCK_API_KEY when no options are given", async () => {
    process.env.PADDOCK_URL = "http://env.test:7100/prefix/";
    process.env.PADDOCK_API_KEY = "env-key-0123456789";
    assert.deepEqual(await sent(), { url: "http://env.test:7100/prefix/v1/whoami", authorization: "Bearer env-key-0123456789" });
    const fetch = fakeFetch(json(200, {}));
    assert.equal(new Paddock({ fetch }).baseUrl, "http://env.test:7100/prefix");
    // No options object at all.
    assert.equal(new Paddock().baseUrl, "http://env.test:7100/prefix");
  });

  it("explicit options win over the environment", async () => {
    process.env.PADDOCK_URL = "http://env.test:7100";
    process.env.PADDOCK_API_KEY = "env-key-0123456789";
    process.env.AGENTJAIL_API_KEY = "aj-key-0123456789";
    assert.deepEqual(await sent({ baseUrl: "http://option.test", apiKey: "option-key" }), {
      url: "http://option.test/v1/whoami",
      authorization: "Bearer option-key",
    });
    // Each option on its own: the other still comes from the environment.
    assert.deepEqual(await sent({ baseUrl: "http://option.test" }), {
      url: "http://option.test/v1/whoami",
      authorization: "Bearer env-key-0123456789",
    });
    assert.deepEqual(await sent({ apiKey: "option-key" }), {
      url: "http://env.test:7100/v1/whoami",
      authorization: "Bearer option-key",
    });
  });

  it("undefined and empty options count as not given", async () => {
    process.env.PADDOCK_URL = "http://env.test:7100";
    process.env.PADDOCK_API_KEY = "env-key-0123456789";
    assert.deepEqual(await sent({ baseUrl: undefined, apiKey: undefined }), {
      url: "http://env.test:7100/v1/whoami",
      authorization: "Bearer env-key-0123456789",
    });
    assert.deepEqual(await sent({ baseUrl: "", apiKey: "" }), {
      url: "http://env.test:7100/v1/whoami",
      authorization: "Bearer env-key-0123456789",
    });
  });

  it("PADDOCK_API_KEY wins over AGENTJAIL_API_KEY, which is used alone", async () => {
    process.env.AGENTJAIL_API_KEY = "aj-key-0123456789";
    assert.equal((await sent()).authorization, "Bearer aj-key-0123456789");
    process.env.PADDOCK_API_KEY = "env-key-0123456789";
    assert.equal((await sent()).authorization, "Bearer env-key-0123456789");
  });

  it("empty variables count as unset", async () => {
    process.env.PADDOCK_URL = "";
    process.env.PADDOCK_API_KEY = "";
    process.env.AGENTJAIL_API_KEY = "aj-key-0123456789";
    assert.deepEqual(await sent(), { url: `${DEFAULT_BASE_URL}/v1/whoami`, authorization: "Bearer aj-key-0123456789" });
  });

  it("with neither options nor variables: the default URL and no key", async () => {
    assert.deepEqual(await sent(), { url: "http://127.0.0.1:7000/v1/whoami", authorization: undefined });
  });

  it("a bad PADDOCK_URL is refused, naming the variable", () => {
    process.env.PADDOCK_URL = "127.0.0.1:7000";
    assert.throws(() => new Paddock({ fetch: fakeFetch() }), {
      name: "TypeError",
      message: 'PADDOCK_URL must be an http:// or https:// URL, got "127.0.0.1:7000"',
    });
    // The option is checked, not the variable, when it is given.
    assert.throws(() => new Paddock({ baseUrl: "ftp://x", fetch: fakeFetch() }), /^TypeError: baseUrl must be/);
    assert.equal(new Paddock({ baseUrl: "http://ok.test", fetch: fakeFetch() }).baseUrl, "http://ok.test");
  });

  it("the environment is read when the client is made, not at each call", async () => {
    process.env.PADDOCK_API_KEY = "first-key-0123456789";
    const fetch = fakeFetch(json(200, {}));
    const paddock = new Paddock({ baseUrl: "http://x.test", fetch });
    process.env.PADDOCK_API_KEY = "second-key-0123456789";
    await paddock.whoami();
    assert.equal(fetch.calls[0].headers.authorization, "Bearer first-key-0123456789");
  });
});

describe("errors that say which variable to set", () => {
  const unauthorized = () => json(401, { error: "missing Authorization header (Bearer <api key>)", code: "UNAUTHORIZED" });

  it("a 401 without a key names PADDOCK_API_KEY", async () => {
    const fetch = fakeFetch(unauthorized());
    const err = await new Paddock({ baseUrl: "http://x.test", fetch }).credentials.list().catch((e) => e);
    assert.ok(PaddockError.is(err));
    assert.equal(err.code, "UNAUTHORIZED");
    assert.equal(err.status, 401);
    assert.equal(err.serverCode, "UNAUTHORIZED");
    assert.equal(
      err.message,
      "missing Authorization header (Bearer <api key>); no API key was sent: pass apiKey to new Paddock() or set PADDOCK_API_KEY",
    );
  });

  it("a 401 with a key (from an option, a variable or a header) keeps the server's message", async () => {
    const messages = [];
    for (const options of [{ apiKey: "bad-key" }, { headers: { Authorization: "Bearer bad-key" } }, {}]) {
      if (!options.apiKey && !options.headers) process.env.PADDOCK_API_KEY = "bad-key";
      const fetch = fakeFetch(json(401, { error: "unknown or revoked API key", code: "UNAUTHORIZED" }));
      const err = await new Paddock({ baseUrl: "http://x.test", fetch, ...options }).whoami().catch((e) => e);
      messages.push(err.message);
    }
    assert.deepEqual(messages, Array(3).fill("unknown or revoked API key"));
  });

  it("a refused connection to the default URL names PADDOCK_URL", async () => {
    const refused = async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:7000") });
    };
    const err = await new Paddock({ apiKey: "k", fetch: refused }).whoami().catch((e) => e);
    assert.equal(err.code, "NETWORK");
    assert.match(err.message, /cannot reach http:\/\/127\.0\.0\.1:7000: fetch failed: connect ECONNREFUSED/);
    assert.match(err.message, /no baseUrl was given and PADDOCK_URL is not set, so the default was used: set PADDOCK_URL or pass baseUrl$/);

    // A URL that was asked for, by option or variable, gets no such hint.
    const explicit = await new Paddock({ baseUrl: "http://127.0.0.1:7000", apiKey: "k", fetch: refused }).whoami().catch((e) => e);
    assert.doesNotMatch(explicit.message, /PADDOCK_URL/);
    process.env.PADDOCK_URL = "http://127.0.0.1:7000";
    const fromEnv = await new Paddock({ apiKey: "k", fetch: refused }).whoami().catch((e) => e);
    assert.doesNotMatch(fromEnv.message, /PADDOCK_URL/);
  });
});
