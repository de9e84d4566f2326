#!/usr/bin/env node
'use strict';
// Thin launcher: the control plane is compiled to dist/ by `npm run build`.
const { main } = require('../dist/control-plane/main.js');
Promise.resolve(main(process.argv.slice(2))).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`openir-control-plane: ${error && error.message ? error.message : error}\n`);
    process.exit(1);
  },
);
