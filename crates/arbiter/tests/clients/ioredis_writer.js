// An application writing through ioredis's Sentinel support:
//
//   node ioredis_writer.js --sentinels 127.0.0.1:26379,127.0.0.1:26380 \
//       --master mymaster --duration 30
//
// The same writes, retries and summary as writer.py (writer_common.js).
// ioredis reconnects by itself (asking the Sentinels for the master again)
// and queues commands while it does; the client is never re-created.
'use strict';

const Redis = require('ioredis');
const { parseArgs, library, Log, run } = require('./writer_common');

const args = parseArgs(process.argv.slice(2));
const log = new Log(library('ioredis'));
const redis = new Redis({ sentinels: args.sentinels, name: args.master });
// ioredis reports connection trouble as 'error' events too; the write
// that fails is what the summary counts.
redis.on('error', () => {});
const addr = () => (redis.stream ? `${redis.stream.remoteAddress}:${redis.stream.remotePort}` : '?');
run(log, args, (key, value) => redis.set(key, value), addr);
