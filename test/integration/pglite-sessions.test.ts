import { connect, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSessionServer, type SessionServer } from '../../src/db/pgliteSessions.js';

// The embedded database's session layer (src/db/pgliteSessions.ts) on an in-memory PGlite: every client
// connection must behave as its own session, as on a real server.

let db: PGlite;
let server: SessionServer;
let url: string;
const clients: pg.Client[] = [];

beforeAll(async () => {
  db = await PGlite.create();
  server = await startSessionServer({ backend: { exec: (b) => db.runExclusive(() => db.execProtocolRaw(b)) }, host: '127.0.0.1', port: 0 });
  url = `postgresql://postgres@127.0.0.1:${server.port}/postgres`;
  await db.exec('CREATE TABLE items (id int PRIMARY KEY, note text)');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await server.stop();
  await db.close();
});

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pglite session layer', () => {
  it('keeps named prepared statements per connection, also when the pool replaces idle connections', async () => {
    const a = await client();
    const b = await client();
    // The same name, different texts: each connection gets its own statement.
    expect((await a.query({ name: 'same', text: 'SELECT $1::int + 1 AS n', values: [1] })).rows[0].n).toBe(2);
    expect((await b.query({ name: 'same', text: 'SELECT $1::int * 10 AS n', values: [1] })).rows[0].n).toBe(10);
    expect((await a.query({ name: 'same', text: 'SELECT $1::int + 1 AS n', values: [5] })).rows[0].n).toBe(6);

    const pool = new pg.Pool({ connectionString: url, max: 5, idleTimeoutMillis: 50 });
    try {
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => pool.query({ name: 'vault_like', text: 'SELECT $1::int AS n', values: [i] })),
        );
        expect(results.map((r) => r.rows[0].n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
        await sleep(150); // every pooled connection closes; the next round opens new ones
      }
    } finally {
      await pool.end();
    }
    // The ended connections' statements are gone; the open ones' remain.
    const { rows } = await a.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
    expect(rows.filter((r) => r.name.endsWith('vault_like'))).toEqual([]);
    expect(rows.filter((r) => r.name.endsWith('_same'))).toHaveLength(2);
  });

  it('never interleaves one connection’s extended-query sequence or transaction with another’s', async () => {
    const a = await client();
    const b = await client();
    await a.query('BEGIN');
    await a.query('INSERT INTO items VALUES (1, $1)', ['in a transaction']);
    // b waits for a's transaction (serialized), and then sees its outcome.
    let bDone = false;
    const bRead = b.query('SELECT count(*)::int AS n FROM items WHERE id = 1').then((r) => {
      bDone = true;
      return r.rows[0].n as number;
    });
    await sleep(100);
    expect(bDone).toBe(false);
    await a.query('ROLLBACK');
    expect(await bRead).toBe(0);

    // An error in one connection's sequence does not make the backend skip another's messages.
    const many = [a, b, ...(await Promise.all(Array.from({ length: 4 }, client)))];
    const mixed = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        many[i % many.length]!.query(i % 5 === 0 ? 'SELECT $1::int / 0 AS n' : 'SELECT $1::int AS n', [i]).then(
          (r) => r.rows[0].n as number,
          (e: Error) => e.message,
        ),
      ),
    );
    expect(mixed).toEqual(Array.from({ length: 30 }, (_, i) => (i % 5 === 0 ? 'division by zero' : i)));
  });

  it('gives a connection its own unnamed statement back after another connection replaced it', async () => {
    const a = await rawClient();
    const b = await rawClient();
    await a.send(parse('', 'SELECT 1 AS n'), sync());
    await b.send(parse('', 'SELECT 2 AS n'), sync());
    const answer = await a.send(bind('', ''), execute(''), sync());
    expect(dataRows(answer)).toEqual(['1']);
    expect(answer.filter((m) => m.type === '1')).toHaveLength(0); // the replayed Parse is not answered
    expect(dataRows(await b.send(bind('', ''), execute(''), sync()))).toEqual(['2']);
    // A connection that never parsed one gets the real server's error, not another connection's statement.
    const c = await rawClient();
    const none = await c.send(bind('', ''), execute(''), sync());
    expect(none.find((m) => m.type === 'E')?.body.toString()).toMatch(/unnamed prepared statement does not exist/);
    c.end();
    a.end();
    b.end();
  });

  it('runs an extended-query sequence only whole: another connection’s messages never land inside it', async () => {
    const a = await rawClient();
    const b = await rawClient();
    a.write(parse('', 'SELECT 1 / 0'), bind('', ''), execute('')); // its Sync comes later
    await sleep(50);
    expect(dataRows(await b.send(parse('', 'SELECT 7'), bind('', ''), execute(''), sync()))).toEqual(['7']);
    const failed = await a.send(sync());
    expect(failed.find((m) => m.type === 'E')?.body.toString()).toMatch(/division by zero/);
    a.end();
    b.end();
  });

  it('rolls back the transaction of a connection that goes away', async () => {
    const a = await client();
    await a.query('BEGIN');
    await a.query('INSERT INTO items VALUES (2, $1)', ['abandoned']);
    (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    const b = await client();
    expect((await b.query('SELECT count(*)::int AS n FROM items WHERE id = 2')).rows[0].n).toBe(0);
    expect((await b.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name NOT LIKE '%\\_same'`)).rows[0].n).toBe(0);
  });

  it('makes session advisory locks exclude other connections until unlocked', async () => {
    const a = await client();
    const b = await client();
    await a.query('SELECT pg_advisory_lock($1)', ['42']);
    let bLocked = false;
    const bLock = b.query('SELECT pg_advisory_lock($1)', ['42']).then(() => (bLocked = true));
    await sleep(150);
    expect(bLocked).toBe(false);
    await a.query('SELECT pg_advisory_unlock($1)', ['42']);
    await bLock;
    expect(bLocked).toBe(true);
    // b's lock is released when b goes away.
    await b.end();
    const c = await client();
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`)).rows[0].n).toBe(0);
  });

  it('delivers NOTIFY to the connections that LISTEN, and keeps other listeners when one unlistens', async () => {
    const listener = await client();
    const other = await client();
    const sender = await client();
    const heard: string[] = [];
    const otherHeard: string[] = [];
    const senderHeard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    other.on('notification', (n) => otherHeard.push(n.payload ?? ''));
    sender.on('notification', (n) => senderHeard.push(n.payload ?? ''));
    await listener.query('LISTEN events');
    await other.query('LISTEN events');
    await sender.query(`SELECT pg_notify('events', 'one')`);
    await other.query('UNLISTEN events');
    await sender.query(`SELECT pg_notify('events', 'two')`);
    await sleep(50);
    expect(heard).toEqual(['one', 'two']);
    expect(otherHeard).toEqual(['one']);
    expect(senderHeard).toEqual([]);
  });
});

// A minimal wire-protocol client, for sequences node-postgres never sends (an unnamed statement reused
// after a Sync).
interface Msg {
  type: string;
  body: Buffer;
}

function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const z = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const parse = (name: string, sql: string) => frame('P', Buffer.concat([z(name), z(sql), Buffer.alloc(2)]));
const bind = (portal: string, stmt: string) => frame('B', Buffer.concat([z(portal), z(stmt), Buffer.alloc(6)]));
const execute = (portal: string) => frame('E', Buffer.concat([z(portal), Buffer.alloc(4)]));
const sync = () => frame('S', Buffer.alloc(0));
const dataRows = (msgs: Msg[]) => msgs.filter((m) => m.type === 'D').map((m) => m.body.toString('utf8', 6, 6 + m.body.readInt32BE(2)));

async function rawClient(): Promise<{
  send: (...messages: Buffer[]) => Promise<Msg[]>;
  write: (...messages: Buffer[]) => void;
  end: () => void;
}> {
  const socket = connect(server.port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let pending: Msg[] = [];
  let waiting: ((msgs: Msg[]) => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
      const len = buf.readInt32BE(1);
      const m = { type: String.fromCharCode(buf[0]!), body: buf.subarray(5, 1 + len) };
      buf = buf.subarray(1 + len);
      pending.push(m);
      if (m.type === 'Z' && waiting) {
        const done = waiting;
        waiting = undefined;
        const got = pending;
        pending = [];
        done(got);
      }
    }
  });
  const startup = Buffer.concat([Buffer.alloc(8), z('user'), z('postgres'), z('database'), z('postgres'), Buffer.from([0])]);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4);
  const untilReady = () => new Promise<Msg[]>((resolve) => (waiting = resolve));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const ready = untilReady();
  socket.write(startup);
  await ready;
  return {
    // Resolves at the first ReadyForQuery after the messages (send one Sync per call).
    async send(...messages: Buffer[]) {
      const answer = untilReady();
      socket.write(Buffer.concat(messages));
      return answer;
    },
    write: (...messages: Buffer[]) => socket.write(Buffer.concat(messages)),
    end: () => socket.end(),
  };
}

describe('pglite session layer with a password (as the embedded database runs)', () => {
  it('refuses connections without the password or with a wrong one, and serves the right one', async () => {
    const guarded = await startSessionServer({
      backend: { exec: (b) => db.runExclusive(() => db.execProtocolRaw(b)) },
      host: '127.0.0.1',
      port: 0,
      password: 's3cret-Pw',
    });
    try {
      const attempt = async (auth: string) => {
        const c = new pg.Client({ connectionString: `postgresql://${auth}@127.0.0.1:${guarded.port}/postgres` });
        c.on('error', () => undefined);
        try {
          await c.connect();
          return (await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n as number;
        } catch (err) {
          return (err as { code?: string; message: string }).code ?? (err as Error).message;
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      expect(await attempt('postgres:wrong')).toBe('28P01');
      expect(await attempt('postgres:s3cret-Pw')).toBeTypeOf('number');
      // No password at all: pg cannot even answer the server's request for one.
      expect(await attempt('postgres')).not.toBeTypeOf('number');
    } finally {
      await guarded.stop();
    }
  });
});
