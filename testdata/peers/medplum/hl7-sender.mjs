// An interface engine's outbound feed built on @medplum/hl7's Hl7Client,
// for Ferry's event tests: the same contract as ../hl7-sender/sender.py.
// Sends the messages (a JSON list on stdin) in order and resends each until
// it is acknowledged AA (after AE, an ACK timeout or a closed connection:
// wait, then a new connection); AR is final. Prints one JSON line per
// attempt: {"control", "ack", "try"}.
//
//   node hl7-sender.mjs HOST PORT ACK_TIMEOUT_S RESEND_DELAY_S MAX_TRIES < messages.json
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';

const [host, port, timeoutS, delayS, tries] = process.argv.slice(2);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const messages = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let client = null;
let failed = 0;
for (const text of messages) {
  const control = text.split('\r')[0].split('|')[9];
  let done = false;
  for (let n = 1; n <= Number(tries) && !done; n++) {
    let code;
    try {
      if (!client) client = new Hl7Client({ host, port: Number(port), keepAlive: true });
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), Number(timeoutS) * 1000);
      });
      const ack = await Promise.race([client.sendAndWait(Hl7Message.parse(text)), timeout]);
      clearTimeout(timer);
      code = ack.getSegment('MSA')?.getField(1)?.toString() ?? '?';
    } catch (e) {
      code = String(e?.message ?? e) === 'timeout' ? 'timeout' : 'closed';
    }
    console.log(JSON.stringify({ control, ack: code, try: n }));
    if (code === 'AA' || code === 'AR') {
      done = true;
      break;
    }
    if (client) {
      await client.close().catch(() => {});
      client = null;
    }
    await sleep(Number(delayS) * 1000);
  }
  if (!done) failed++;
}
if (client) await client.close().catch(() => {});
process.exit(failed ? 1 : 0);
