import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { parseRedisUrl, redactRedisUrl } from './redis-url.js';

describe('parseRedisUrl', () => {
  it('standalone, with and without TLS, auth and db', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1'), { kind: 'standalone', node: { host: '127.0.0.1', port: 6379 }, db: 0, tls: false });
    assert.deepEqual(parseRedisUrl('rediss://user:p%40ss@redis.example:6380/2'), {
      kind: 'standalone',
      node: { host: 'redis.example', port: 6380 },
      db: 2,
      tls: true,
      username: 'user',
      password: 'p@ss',
    });
    assert.deepEqual(parseRedisUrl('redis://:secret@[::1]:7000'), { kind: 'standalone', node: { host: '::1', port: 7000 }, db: 0, tls: false, password: 'secret' });
  });

  it('sentinel: host list, master name, db, sentinelPassword', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://:pw@s1,s2:26380,[2001:db8::5]/mymaster/3?sentinelPassword=sp'), {
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: '2001:db8::5', port: 26379 },
      ],
      masterName: 'mymaster',
      db: 3,
      tls: false,
      password: 'pw',
      sentinelPassword: 'sp',
    });
  });

  it('cluster seed lists', () => {
    assert.deepEqual(parseRedisUrl('redis-cluster://10.0.0.1:7000,10.0.0.2:7001'), {
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      tls: false,
    });
    assert.equal(parseRedisUrl('rediss-cluster://h').tls, true);
  });

  it('refuses mistakes with BAD_CONFIG naming them, and never shows the password', () => {
    const cases: [string, RegExp][] = [
      ['http://h', /unknown scheme "http"/],
      ['redis://h1,h2', /one host/],
      ['redis://h:99999', /port 99999/],
      ['redis://h/x', /database "x"/],
      ['redis://h?foo=1', /unknown query parameter "foo"/],
      ['redis+sentinel://h', /master name/],
      ['redis-cluster://h/0', /no path/],
      ['redis://:hunter2@h/abc', /database/],
      ['nonsense', /expected scheme/],
    ];
    for (const [url, re] of cases) {
      assert.throws(
        () => parseRedisUrl(url),
        (e: unknown) => isZtError(e, ZtErrorCode.BAD_CONFIG) && re.test(e.message) && !e.message.includes('hunter2'),
        url,
      );
    }
    assert.equal(redactRedisUrl('redis://u:hunter2@h:1/0'), 'redis://u:***@h:1/0');
  });

  it('property: any string either parses or throws BAD_CONFIG', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `redis://${s}`), fc.string().map((s) => `redis-cluster://${s}`)), (s) => {
        try {
          parseRedisUrl(s);
        } catch (e) {
          assert.ok(isZtError(e, ZtErrorCode.BAD_CONFIG), String(e));
        }
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});
