import http from 'node:http';

/**
 * An HTTP data store for job tests, behind a bearer token: `/files/big.bin`
 * at full speed, `/slow/<n>` sends n bytes at about 1.3 MB/s (slow enough to
 * cancel or kill a node mid-copy). `slowClosed` records when slow transfers end.
 */
export function startDataServer(opts: { token: string; big?: Buffer; slowData: Buffer }) {
  const slowClosed: number[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401).end();
      return;
    }
    if (opts.big && req.url === '/files/big.bin') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(opts.big);
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
  return { server, slowClosed };
}
