// A webhook receiver for Ferry's event tests. Every delivery is verified
// with standardwebhooks (the Standard Webhooks reference library), not with
// Ferry's code. It listens on 127.0.0.1 only.
//
//   node receiver.js SECRET [SECRET...]   prints {"port":P,"control":C}
//
// Deliveries: POST /<subscription path>. Control (JSON, port C):
//   POST /mode {"path":"/a","mode":"ok"|"fail"|"slow","delay_ms":N}
//   POST /down {"ms":N}     stop accepting deliveries for N ms
//   GET  /deliveries        [{path, id, type, body}] of verified 2xx answers
//   GET  /errors            verification failures
'use strict';
const http = require('http');
const { Webhook } = require('standardwebhooks');

const secrets = process.argv.slice(2);
if (secrets.length === 0) {
  console.error('usage: node receiver.js SECRET [SECRET...]');
  process.exit(2);
}
const verifiers = secrets.map((s) => new Webhook(s));
const modes = {};
const deliveries = [];
const errors = [];

function verify(body, headers) {
  // Each secret alone must verify the delivery: a receiver mid-rotation
  // knows only one of them.
  for (const v of verifiers) {
    v.verify(body, {
      'webhook-id': headers['webhook-id'],
      'webhook-timestamp': headers['webhook-timestamp'],
      'webhook-signature': headers['webhook-signature'],
    });
  }
}

function onDelivery(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let payload;
    try {
      verify(body, req.headers);
      payload = JSON.parse(body);
    } catch (e) {
      errors.push({ path: req.url, id: req.headers['webhook-id'] || '', error: String(e.message || e) });
      res.writeHead(400).end();
      return;
    }
    const m = modes[req.url] || { mode: 'ok' };
    const answer = () => {
      if (m.mode === 'fail') {
        res.writeHead(503).end();
        return;
      }
      deliveries.push({ path: req.url, id: req.headers['webhook-id'], type: payload.type, body: payload });
      res.writeHead(204).end();
    };
    if (m.mode === 'slow') setTimeout(answer, m.delay_ms || 0);
    else answer();
  });
}

let server;
let port = 0;
function listen(cb) {
  server = http.createServer(onDelivery);
  server.keepAliveTimeout = 1000;
  server.listen(port, '127.0.0.1', () => {
    port = server.address().port;
    cb();
  });
}

function readJSON(req, cb) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => cb(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}));
}

const control = http.createServer((req, res) => {
  const json = (v) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
  if (req.method === 'GET' && req.url === '/deliveries') return json(deliveries);
  if (req.method === 'GET' && req.url === '/errors') return json(errors);
  readJSON(req, (b) => {
    if (req.url === '/mode') {
      modes[b.path] = b;
      return json({ ok: true });
    }
    if (req.url === '/down') {
      server.closeAllConnections();
      server.close(() => setTimeout(() => listen(() => {}), b.ms));
      return json({ ok: true });
    }
    res.writeHead(404).end();
  });
});

listen(() => {
  control.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port, control: control.address().port }));
  });
});
process.on('SIGTERM', () => process.exit(0));
