//go:build unix

package testpeer

// The PDQ responders each MLLP peer runs: their source, written into the
// peer's temporary folder at start. Each is a small program of the peer's
// own language on top of the HL7 library under test.

// pythonPDQ is the python-hl7 responder: hl7.mllp's server, hl7.parse to
// read queries and to check the answers it builds, hl7's escape/unescape.
const pythonPDQ = `"""A PDQ supplier for Ferry's tests: python-hl7's MLLP server (hl7.mllp)
answering QBP^Q22 with RSP^K22 built from a JSON fixture.

Usage: python3 pdq_python.py FIXTURE.json
Prints {"ready": true, "port": N} once listening on 127.0.0.1, then one JSON
line per query received (what python-hl7 parsed from it)."""
import asyncio
import json
import sys

import hl7
import hl7.mllp

with open(sys.argv[1], encoding="utf-8") as f:
    FIX = json.load(f)


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def value(msg, s):
    """The unescaped text of a python-hl7 element."""
    return msg.unescape(str(s)) if s is not None else ""


def field(seg, n):
    try:
        return seg[n]
    except IndexError:
        return None


def reps(f):
    """The repetitions of a field, each a list of component strings."""
    if f is None or str(f) == "":
        return []
    out_ = []
    for r in f:
        if isinstance(r, str):
            out_.append([r])
        else:
            out_.append([str(c) for c in r])
    return out_


def match(pattern, v):
    pattern, v = pattern.lower(), (v or "").lower()
    if pattern.endswith("*"):
        return v.startswith(pattern[:-1])
    return v == pattern


def matches(p, params):
    for name, want in params.items():
        if name == "@PID.5.1.1" and not match(want, p.get("family")):
            return False
        if name == "@PID.5.2" and not match(want, (p.get("given") or [""])[0]):
            return False
        if name == "@PID.7" and not (p.get("birth_date") or "").startswith(want):
            return False
        if name == "@PID.8" and p.get("sex") != want:
            return False
    ident = params.get("@PID.3.1")
    if ident is not None:
        ns, oid = params.get("@PID.3.4.1"), params.get("@PID.3.4.2")
        if not any(i["id"] == ident and (ns is None or i.get("ns") == ns) and (oid is None or i.get("oid") == oid)
                   for i in p.get("ids", [])):
            return False
    return True


def pid(m, n, p):
    e = m.escape
    ids = "~".join("%s^^^%s&%s&%s^%s" % (e(i["id"]), e(i.get("ns", "")), e(i.get("oid", "")),
                                          "ISO" if i.get("oid") else "", e(i.get("type", "MR")))
                   for i in p.get("ids", []))
    given = p.get("given") or []
    name = "%s^%s^%s^^^^L" % (e(p.get("family", "")), e(given[0]) if given else "",
                              e(" ".join(given[1:])))
    addr = ""
    if p.get("street") or p.get("city"):
        addr = "^".join([e(p.get("street", "")), "", e(p.get("city", "")), e(p.get("state", "")),
                         e(p.get("zip", "")), e(p.get("country", "")), "H"])
    phone = "%s^PRN^PH" % e(p["phone"]) if p.get("phone") else ""
    fields = ["PID", str(n), "", ids, "", name, "", p.get("birth_date", ""), p.get("sex", ""),
              "", "", addr, "", phone]
    if p.get("deceased"):
        fields += [""] * (29 - len(fields)) + [p["deceased"], "Y"]
    return "|".join(fields)


def answer(req):
    m = req
    msh = m.segment("MSH")
    ctrl = value(m, m["MSH.F10"])
    typ = (value(m, m["MSH.F9.R1.C1"]), value(m, m["MSH.F9.R1.C2"]))
    head = "MSH|^~\\&|%s|%s|%s|%s|20240315103000||%%s|R%s|P|2.5" % (
        str(field(msh, 5) or ""), str(field(msh, 6) or ""), str(field(msh, 3) or ""), str(field(msh, 4) or ""), ctrl)
    if typ != ("QBP", "Q22"):
        return "\r".join([head % "ACK^Q22^ACK", "MSA|AR|" + ctrl, "ERR||MSH^1^9|200^Unsupported message type^HL70357|E"])
    qpd = m.segment("QPD")
    tag = value(m, field(qpd, 2))
    params = {}
    for r in reps(field(qpd, 3)):
        if len(r) >= 2:
            params[value(m, r[0])] = value(m, r[1])
    domains = [value(m, r[3].split("&")[0]) for r in reps(field(qpd, 8)) if len(r) >= 4]
    limit = 0
    try:
        limit = int(value(m, m["RCP.F2.R1.C1"]) or 0)
    except (KeyError, ValueError, IndexError):
        pass
    pointer = ""
    try:
        pointer = value(m, m["DSC.F1"])
    except (KeyError, IndexError):
        pass
    out({"control_id": ctrl, "query_tag": tag, "params": params, "domains": domains, "limit": limit,
         "pointer": pointer, "query_name": value(m, m["QPD.F1.R1.C1"])})
    if FIX.get("ack"):
        return "\r".join([head % "RSP^K22^RSP_K21", "MSA|%s|%s" % (FIX["ack"], ctrl),
                          "QAK|%s|%s|IHE PDQ Query" % (m.escape(tag), FIX["ack"]), str(qpd),
                          "ERR||QPD^1^3|207^Application internal error^HL70357|E"])
    known = FIX.get("domains") or []
    asked = domains + ([params["@PID.3.4.1"]] if "@PID.3.4.1" in params else [])
    if known and any(d not in known for d in asked):
        return "\r".join([head % "RSP^K22^RSP_K21", "MSA|AE|" + ctrl, "QAK|%s|AE|IHE PDQ Query" % m.escape(tag),
                          str(qpd), "ERR||QPD^1^8^1^4|204^Unknown Key Identifier^HL70357|E"])
    found = [p for p in FIX.get("patients", []) if matches(p, params)]
    start = int(pointer[1:]) if pointer.startswith("p") and pointer[1:].isdigit() else 0
    if FIX.get("ignore_limit"):
        size = len(found)
    else:
        size = FIX.get("page_size") or limit or len(found)
        if limit:
            size = min(size, limit)
    page = found[start:start + size]
    remaining = max(0, len(found) - start - len(page))
    segs = [head % "RSP^K22^RSP_K21", "MSA|AA|" + ctrl,
            "QAK|%s|%s|IHE PDQ Query|%d|%d|%d" % (m.escape(tag), "OK" if page else "NF", len(found), len(page), remaining),
            str(qpd)]
    segs += [pid(m, i + 1, p) for i, p in enumerate(page)]
    if remaining and not FIX.get("ignore_limit"):
        segs.append("DSC|p%d|I" % (start + len(page)))
    return "\r".join(segs)


async def handle(reader, writer):
    try:
        while not writer.is_closing():
            msg = await reader.readmessage()
            reply = hl7.parse(answer(msg))  # through python-hl7's parser and serializer
            if FIX.get("delay_ms"):
                await asyncio.sleep(FIX["delay_ms"] / 1000)
            if FIX.get("split_reply"):
                data = b"\x0b" + str(reply).encode("utf-8") + b"\x1c\x0d"
                third = max(1, len(data) // 3)
                for part in (data[:third], data[third:2 * third], data[2 * third:]):
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.02)
            else:
                writer.writemessage(reply)
                await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    except Exception as exc:  # a bad frame or message: say so, close the connection
        sys.stderr.write("pdq peer: %s: %s\n" % (type(exc).__name__, exc))
    finally:
        writer.close()


async def main():
    server = await hl7.mllp.start_hl7_server(handle, host="127.0.0.1", port=0, encoding="utf-8")
    out({"ready": True, "port": server.sockets[0].getsockname()[1]})
    async with server:
        await server.serve_forever()


asyncio.run(main())
`

// medplumPDQ is the @medplum/hl7 responder: Hl7Connection for the framing,
// @medplum/core's Hl7Message and Hl7Segment to read queries and build
// answers (Medplum keeps values escaped, so the script escapes itself).
const medplumPDQ = `// A PDQ supplier for Ferry's tests: @medplum/hl7's Hl7Connection on a
// net.Server bound to 127.0.0.1, answering QBP^Q22 with RSP^K22 built from a
// JSON fixture with @medplum/core's Hl7Message.
//
// Usage: node pdq_medplum.cjs NODE_MODULES_DIR FIXTURE.json
// Prints {"ready":true,"port":N} once listening, then one JSON line per query
// received (what Medplum parsed from it).
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const modules = process.argv[2];
const { Hl7Connection } = require(path.join(modules, '@medplum', 'hl7'));
const { Hl7Message, Hl7Segment } = require(path.join(modules, '@medplum', 'core'));
const FIX = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Medplum keeps values escaped; the responder unescapes and escapes itself
// (HL7 v2.5 section 2.7, default delimiters).
function unescape(s) {
  return String(s || '').replace(/\\(F|S|T|R|E|X[0-9A-Fa-f]*|\.br)\\/g, function (_, seq) {
    switch (seq) {
      case 'F': return '|';
      case 'S': return '^';
      case 'T': return '&';
      case 'R': return '~';
      case 'E': return '\\';
      case '.br': return '\n';
      default: return Buffer.from(seq.slice(1), 'hex').toString('utf8');
    }
  });
}

function escape(s) {
  return String(s || '').replace(/[\\|^&~\n]/g, function (c) {
    return { '\\': '\\E\\', '|': '\\F\\', '^': '\\S\\', '&': '\\T\\', '~': '\\R\\', '\n': '\\.br\\' }[c];
  });
}

function match(pattern, v) {
  pattern = pattern.toLowerCase();
  v = String(v || '').toLowerCase();
  return pattern.endsWith('*') ? v.startsWith(pattern.slice(0, -1)) : v === pattern;
}

function matches(p, params) {
  for (const [name, want] of Object.entries(params)) {
    if (name === '@PID.5.1.1' && !match(want, p.family)) return false;
    if (name === '@PID.5.2' && !match(want, (p.given || [''])[0])) return false;
    if (name === '@PID.7' && !String(p.birth_date || '').startsWith(want)) return false;
    if (name === '@PID.8' && p.sex !== want) return false;
  }
  if ('@PID.3.1' in params) {
    const ns = params['@PID.3.4.1'];
    const oid = params['@PID.3.4.2'];
    const ok = (p.ids || []).some(function (i) {
      return i.id === params['@PID.3.1'] && (ns === undefined || i.ns === ns) && (oid === undefined || i.oid === oid);
    });
    if (!ok) return false;
  }
  return true;
}

function pid(n, p) {
  const ids = (p.ids || []).map(function (i) {
    return escape(i.id) + '^^^' + escape(i.ns) + '&' + escape(i.oid) + '&' + (i.oid ? 'ISO' : '') + '^' + escape(i.type || 'MR');
  }).join('~');
  const given = p.given || [];
  const name = escape(p.family) + '^' + escape(given[0]) + '^' + escape(given.slice(1).join(' ')) + '^^^^L';
  const addr = p.street || p.city
    ? [escape(p.street), '', escape(p.city), escape(p.state), escape(p.zip), escape(p.country), 'H'].join('^') : '';
  const phone = p.phone ? escape(p.phone) + '^PRN^PH' : '';
  const fields = ['PID', String(n), '', ids, '', name, '', p.birth_date || '', p.sex || '', '', '', addr, '', phone];
  if (p.deceased) {
    while (fields.length < 29) fields.push('');
    fields.push(p.deceased, 'Y');
  }
  return new Hl7Segment(fields);
}

function answer(m) {
  const msh = m.getSegment('MSH');
  const ctrl = msh.getField(10).toString();
  const head = function (type) {
    return new Hl7Segment(['MSH', '^~\\&', msh.getField(5).toString(), msh.getField(6).toString(),
      msh.getField(3).toString(), msh.getField(4).toString(), '20240315103000', '', type, 'R' + ctrl, 'P', '2.5']);
  };
  const type = msh.getField(9).components[0] || [];
  if (type[0] !== 'QBP' || type[1] !== 'Q22') {
    return new Hl7Message([head('ACK^Q22^ACK'), new Hl7Segment(['MSA', 'AR', ctrl]),
      new Hl7Segment(['ERR', '', 'MSH^1^9', '200^Unsupported message type^HL70357', 'E'])]);
  }
  const qpd = m.getSegment('QPD');
  const tag = unescape(qpd.getField(2).toString());
  const params = {};
  for (const rep of qpd.getField(3).components) {
    if (rep.length >= 2 && rep[0]) params[unescape(rep[0])] = unescape(rep[1]);
  }
  const domains = [];
  const f8 = qpd.fields.length > 8 ? qpd.getField(8).components : [];
  for (const rep of f8) {
    if (rep.length >= 4) domains.push(unescape(rep[3].split('&')[0]));
  }
  const rcp = m.getSegment('RCP');
  const limit = rcp && rcp.fields.length > 2 ? parseInt((rcp.getField(2).components[0] || [])[0] || '0', 10) || 0 : 0;
  const dsc = m.getSegment('DSC');
  const pointer = dsc ? unescape(dsc.getField(1).toString()) : '';
  out({ control_id: ctrl, query_tag: tag, params: params, domains: domains, limit: limit, pointer: pointer,
    query_name: unescape((qpd.getField(1).components[0] || [])[0]) });

  if (FIX.ack) {
    return new Hl7Message([head('RSP^K22^RSP_K21'), new Hl7Segment(['MSA', FIX.ack, ctrl]),
      new Hl7Segment(['QAK', escape(tag), FIX.ack, 'IHE PDQ Query']), qpd,
      new Hl7Segment(['ERR', '', 'QPD^1^3', '207^Application internal error^HL70357', 'E'])]);
  }
  const known = FIX.domains || [];
  const asked = domains.concat('@PID.3.4.1' in params ? [params['@PID.3.4.1']] : []);
  if (known.length && asked.some(function (d) { return !known.includes(d); })) {
    return new Hl7Message([head('RSP^K22^RSP_K21'), new Hl7Segment(['MSA', 'AE', ctrl]),
      new Hl7Segment(['QAK', escape(tag), 'AE', 'IHE PDQ Query']), qpd,
      new Hl7Segment(['ERR', '', 'QPD^1^8^1^4', '204^Unknown Key Identifier^HL70357', 'E'])]);
  }
  const found = (FIX.patients || []).filter(function (p) { return matches(p, params); });
  const start = /^p\d+$/.test(pointer) ? parseInt(pointer.slice(1), 10) : 0;
  let size;
  if (FIX.ignore_limit) {
    size = found.length;
  } else {
    size = FIX.page_size || limit || found.length;
    if (limit) size = Math.min(size, limit);
  }
  const page = found.slice(start, start + size);
  const remaining = Math.max(0, found.length - start - page.length);
  const segs = [head('RSP^K22^RSP_K21'), new Hl7Segment(['MSA', 'AA', ctrl]),
    new Hl7Segment(['QAK', escape(tag), page.length ? 'OK' : 'NF', 'IHE PDQ Query',
      String(found.length), String(page.length), String(remaining)]), qpd];
  page.forEach(function (p, i) { segs.push(pid(i + 1, p)); });
  if (remaining && !FIX.ignore_limit) segs.push(new Hl7Segment(['DSC', 'p' + (start + page.length), 'I']));
  return new Hl7Message(segs);
}

function sleep(ms) {
  return new Promise(function (resolve) { setTimeout(resolve, ms); });
}

const server = net.createServer(function (socket) {
  const conn = new Hl7Connection(socket);
  conn.addEventListener('error', function (e) {
    process.stderr.write('pdq peer: ' + (e.error && e.error.message) + '\n');
  });
  conn.addEventListener('message', async function (event) {
    try {
      const reply = answer(event.message);
      if (FIX.delay_ms) await sleep(FIX.delay_ms);
      if (FIX.split_reply) {
        const data = Buffer.concat([Buffer.from([0x0b]), Buffer.from(reply.toString(), 'utf8'), Buffer.from([0x1c, 0x0d])]);
        const third = Math.max(1, Math.floor(data.length / 3));
        for (const part of [data.subarray(0, third), data.subarray(third, 2 * third), data.subarray(2 * third)]) {
          socket.write(part);
          await sleep(20);
        }
      } else {
        conn.send(reply);
      }
    } catch (err) {
      process.stderr.write('pdq peer: ' + err.message + '\n');
      socket.destroy();
    }
  });
});
server.listen(0, '127.0.0.1', function () {
  out({ ready: true, port: server.address().port });
});
process.on('SIGTERM', function () { server.close(); process.exit(0); });
`
