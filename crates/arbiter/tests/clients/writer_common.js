// What the two Node.js writers share: the command line, the write loop and
// the summary they print (README.md beside this file describes it; the
// test harness reads it: arbiter_testkit::clients). Each writer only says
// how its library connects, writes one key and tells the address it wrote
// to.
'use strict';

const fs = require('fs');
const path = require('path');

/** `--sentinels h:p,h:p --master NAME --duration S --prefix P`. */
function parseArgs(argv) {
  const args = { master: 'mymaster', duration: 60, prefix: 'k' };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i].replace(/^--/, ''), argv[i + 1]];
    if (!['sentinels', 'master', 'duration', 'prefix'].includes(key) || value === undefined) {
      throw new Error(`unknown or incomplete argument ${argv[i]}`);
    }
    args[key] = key === 'duration' ? Number(value) : value;
  }
  if (!args.sentinels) throw new Error('--sentinels host:port,... is required');
  args.sentinels = args.sentinels.split(',').map((a) => {
    const at = a.lastIndexOf(':');
    return { host: a.slice(0, at), port: Number(a.slice(at + 1)) };
  });
  return args;
}

/** `NAME VERSION` of an installed package (`shown` as its name). */
function library(name, shown = name) {
  const file = path.join(__dirname, 'node_modules', name, 'package.json');
  return `${shown} ${JSON.parse(fs.readFileSync(file, 'utf8')).version}`;
}

/** What the application saw: acknowledged writes by address, errors. */
class Log {
  constructor(library) {
    this.library = library;
    this.start = process.hrtime.bigint();
    this.acked = 0;
    this.errors = 0;
    this.errorKinds = {};
    this.segments = [];
    this.lastAckMs = null;
    this.longestGap = null;
  }

  ms() {
    return Number((process.hrtime.bigint() - this.start) / 1000000n);
  }

  ack(i, addr) {
    const now = this.ms();
    this.acked = i;
    if (this.lastAckMs !== null) {
      const gap = now - this.lastAckMs;
      if (this.longestGap === null || gap > this.longestGap.ms) this.longestGap = { after: i - 1, ms: gap };
    }
    this.lastAckMs = now;
    const last = this.segments[this.segments.length - 1];
    if (!last || last.addr !== addr) this.segments.push({ addr, first: i, first_ms: now, last: i, last_ms: now });
    else Object.assign(last, { last: i, last_ms: now });
  }

  error(e) {
    this.errors += 1;
    const name = (e && e.constructor && e.constructor.name) || 'Error';
    const kind = (this.errorKinds[name] ??= { count: 0, first: String(e && e.message) });
    kind.count += 1;
  }

  summary() {
    return {
      library: this.library,
      acked: this.acked,
      errors: this.errors,
      error_kinds: this.errorKinds,
      segments: this.segments,
      longest_gap: this.longestGap,
      elapsed_ms: this.ms(),
    };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes `SET <prefix><i> i` for i = 1, 2, ... with `write(key, value)`,
 * one at a time; a failed write is retried (the same key) after 50 ms.
 * `addr()` names where the last acknowledged write went. Prints the ready
 * line after the first acknowledged write and the summary on exit (after
 * `duration` seconds or on SIGTERM), then exits.
 */
async function run(log, args, write, addr) {
  const finish = () => {
    process.stdout.write(JSON.stringify(log.summary()) + '\n', () => process.exit(0));
  };
  process.on('SIGTERM', finish);
  let i = 1;
  while (log.ms() < args.duration * 1000) {
    try {
      await write(`${args.prefix}${i}`, String(i));
    } catch (e) {
      log.error(e);
      await sleep(50);
      continue;
    }
    log.ack(i, addr());
    if (i === 1) console.log(JSON.stringify({ ready: log.library }));
    i += 1;
  }
  finish();
}

module.exports = { parseArgs, library, Log, run, sleep };
