// An application writing through node-redis's Sentinel client
// (createSentinel):
//
//   node node_redis_writer.js --sentinels 127.0.0.1:26379,127.0.0.1:26380 \
//       --master mymaster --duration 30
//
// The same writes, retries and summary as writer.py (writer_common.js).
// The client follows the Sentinels' +switch-master and rediscovers the
// master by itself; it is never re-created.
'use strict';

const { createSentinel } = require('redis');
const { parseArgs, library, Log, run, sleep } = require('./writer_common');

const args = parseArgs(process.argv.slice(2));
const log = new Log(library('redis', 'node-redis'));
const sentinel = createSentinel({ name: args.master, sentinelRootNodes: args.sentinels });
sentinel.on('error', () => {});
const addr = () => {
  const node = sentinel.getMasterNode();
  return node ? `${node.host}:${node.port}` : '?';
};

(async () => {
  // The first connection, retried like the writes.
  for (;;) {
    try {
      await sentinel.connect();
      break;
    } catch (e) {
      log.error(e);
      await sleep(50);
    }
  }
  await run(log, args, (key, value) => sentinel.set(key, value), addr);
})();
