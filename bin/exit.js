'use strict';
/**
 * Ends the process with `code` once stdout and stderr have handed everything
 * written so far to the OS. `process.exit` right after a large write to a
 * pipe drops the rest (a `--json` listing piped into jq arrived cut at 64 KiB);
 * a write's callback runs only after every earlier write on that stream.
 */
function exitAfterFlush(code) {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableEnded || stream.destroyed) done();
    else stream.write('', done);
  }
}

module.exports = { exitAfterFlush };
