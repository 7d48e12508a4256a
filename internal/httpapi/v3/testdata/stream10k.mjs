// Streams records to kgate's Confluent v3 produce endpoint over one
// HTTP/1.1 request with chunked transfer encoding, reading the receipts
// while it is still sending. Uses Node's built-in http only.
//
//   node stream10k.mjs <records URL> [records=10000] [batch=500]
//
// It sends a batch, then waits for that batch's receipts before sending
// the next one: a server that only answered after the whole body would
// never get the rest, and the script fails on its timeout. It checks that
// receipts come one per record, in order (offsets 0..n-1 on a fresh
// one-partition topic), and prints a JSON summary.
import http from 'node:http';

const [url, nArg = '10000', batchArg = '500'] = process.argv.slice(2);
const N = Number(nArg);
const B = Number(batchArg);
const u = new URL(url);

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

const timer = setTimeout(() => fail(`timed out: ${received} receipts for ${sent} records sent`), 60000);

let sent = 0;
let received = 0;
let receiptsWhileSending = 0;
let sending = true;
let pending = '';
let wake = null;

const req = http.request({
  hostname: u.hostname,
  port: u.port,
  path: u.pathname,
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
});
req.on('error', (e) => fail('request: ' + e.message));

const responded = new Promise((resolve) => req.on('response', resolve));
const finished = new Promise((resolve, reject) => {
  responded.then((res) => {
    if (res.statusCode !== 200) fail('status ' + res.statusCode);
    if (res.headers['transfer-encoding'] !== 'chunked') fail('response not chunked');
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      pending += chunk;
      let i;
      while ((i = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 2);
        if (line.trim() === '') continue;
        const r = JSON.parse(line);
        if (r.error_code !== 200) fail(`receipt ${received}: ${line}`);
        if (r.offset !== received) fail(`receipt ${received} has offset ${r.offset}: out of order`);
        received++;
        if (sending) receiptsWhileSending++;
        if (wake && received >= wake.until) {
          const w = wake;
          wake = null;
          w.resolve();
        }
      }
    });
    res.on('end', resolve);
    res.on('error', reject);
  });
});

function until(n) {
  if (received >= n) return Promise.resolve();
  return new Promise((resolve) => { wake = { until: n, resolve }; });
}

function record(i) {
  return JSON.stringify({
    key: { type: 'STRING', data: 'k' + i },
    value: { type: 'JSON', data: { i, text: 'record ' + i } },
  });
}

for (let start = 0; start < N; start += B) {
  const end = Math.min(N, start + B);
  const parts = [];
  for (let i = start; i < end; i++) parts.push(record(i));
  req.write(parts.join('\n') + '\n');
  sent = end;
  if (start === 0) await responded;
  await until(end); // this batch's receipts, while the body is still open
}
sending = false;
req.end();
await finished;
clearTimeout(timer);
if (received !== N) fail(`received ${received} receipts for ${N} records`);
console.log(JSON.stringify({ sent, received, receipts_while_sending: receiptsWhileSending }));
