// One query string per line on stdin; prints 1 when the parser named by
// the first argument (`querystring`: Node's own, what Express's
// method-override reads; `qs`: Express's extended query parser, also with
// `qs-allow-dots`, its `allowDots` option) gives a
// top-level `_method`. `qs` is found through NODE_PATH.
const fs = require('node:fs');
const parsers = {
  querystring: require('node:querystring').parse,
  qs: (query) => require('qs').parse(query),
  'qs-allow-dots': (query) => require('qs').parse(query, { allowDots: true }),
};
const parse = parsers[process.argv[2]];
const lines = fs.readFileSync(0, 'utf8').split('\n');
lines.pop();
const out = lines.map((query) => (Object.hasOwn(parse(query), '_method') ? '1' : '0'));
process.stdout.write(out.join('\n') + '\n');
