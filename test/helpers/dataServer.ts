import http from 'node:http';

/**
 * An HTTP data store for job tests, behind a bearer token: `/files/big.bin`
 * at full speed, `/slow/<n>` sends n bytes at about 1.3 MB/s (slow enough to
 * cancel or kill a node mid-copy). `slowClosed` records when slow transfers end.
 *
 * With `flaky` bytes, for retry tests (an ETag and `Range: bytes=N-` with
 * If-Range, as a static file server answers): `/flaky/drop-once/<name>` sends
 * about half the body of its first request and then drops the connection;
 * `/flaky/drop-always/<name>` does so every time;
 * `/flaky/busy-once/<name>` answers 503 to its first request. Later requests
 * are served whole, or from N with 206. `requests` records every request's
 * path and Range header.
 */
export function startDataServer(opts: { token: string; big?: Buffer; slowData: Buffer; flaky?: Buffer }) {
  const slowClosed: number[] = [];
  const requests: { url: string; range: string | null }[] = [];
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', range: req.headers.range ?? null });
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401).end();
      return;
    }
    if (opts.big && req.url === '/files/big.bin') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(opts.big);
      return;
    }
    const flaky = /^\/flaky\/(drop-once|drop-always|busy-once)\/[\w.-]+$/.exec(req.url ?? '');
    if (opts.flaky && flaky) {
      serveFlaky(req, res, opts.flaky, flaky[1] as string, !seen.has(req.url ?? ''));
      seen.add(req.url ?? '');
      return;
    }
    const slow = /^\/slow\/(\d+)$/.exec(req.url ?? '');
    if (!slow) {
      res.writeHead(404).end();
      return;
    }
    const total = Math.min(Number(slow[1]), opts.slowData.length);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let sent = 0;
    const timer = setInterval(() => {
      const chunk = opts.slowData.subarray(sent, Math.min(total, sent + 64 * 1024));
      sent += chunk.length;
      if (sent >= total) {
        clearInterval(timer);
        res.end(chunk);
      } else res.write(chunk);
    }, 50);
    res.on('close', () => {
      clearInterval(timer);
      slowClosed.push(Date.now());
    });
  });
  return { server, slowClosed, requests };
}

const ETAG = '"flaky-v1"';

function serveFlaky(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  data: Buffer,
  kind: string,
  first: boolean,
): void {
  if (first && kind === 'busy-once') {
    res.writeHead(503, { 'retry-after': '0' }).end();
    return;
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = range && req.headers['if-range'] === ETAG ? Number(range[1]) : 0;
  if (from > data.length) {
    res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
    return;
  }
  const body = data.subarray(from);
  res.writeHead(from > 0 ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(body.length),
    'accept-ranges': 'bytes',
    etag: ETAG,
    ...(from > 0 ? { 'content-range': `bytes ${from}-${data.length - 1}/${data.length}` } : {}),
  });
  if ((first && kind === 'drop-once') || kind === 'drop-always') {
    // About half, flushed, then the connection goes: the client sees a body cut short.
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
      setTimeout(() => res.socket?.destroy(), 100);
    });
    return;
  }
  res.end(body);
}
