import net from "node:net";
import type { PGlite } from "@electric-sql/pglite";

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** A Sync message: ends an extended-protocol batch, and any "skip until Sync" error state. */
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

interface Connection {
  id: number;
  socket: net.Socket;
  input: Buffer;
  startupDone: boolean;
  closed: boolean;
  /** Channels this client LISTENs on: notifications are delivered to it, not to whoever triggered them. */
  channels: Set<string>;
  /** Messages are handled strictly in arrival order, one at a time. */
  chain: Promise<void>;
}

type Frame =
  | { kind: "ssl" | "cancel" | "startup"; bytes: Buffer }
  | { kind: "message"; type: string; bytes: Buffer };

/**
 * Serves one PGlite (a single Postgres session) to many clients over the Postgres wire protocol.
 *
 * Why not pglite-socket's PGLiteSocketServer: its query queue interleaves clients message by message,
 * so one client's Parse/Bind/Execute/Sync can be cut by another's. Under the demo's load (API, two
 * workers, the demo itself) that fails with "unnamed prepared statement does not exist". Here a
 * client owns the session from its first message until its batch ends (Sync or a simple Query) and
 * no transaction is open; others wait their turn. Since every client shares the one session, LISTEN
 * is tracked per client and NotificationResponse messages are routed to the clients that asked.
 */
export class PgliteWireServer {
  private server: net.Server | null = null;
  private readonly connections = new Set<Connection>();
  private owner: Connection | null = null;
  private readonly waiting: { conn: Connection; resolve: () => void }[] = [];
  private nextId = 1;

  constructor(
    private readonly db: PGlite,
    private readonly options: { maxConnections: number; log?: (message: string) => void },
  ) {}

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      this.server = server;
      server.once("error", reject);
      server.listen(port, host, () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /** Stops accepting, closes every client, and waits for the session to be free. */
  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    for (const conn of this.connections) conn.socket.destroy();
    await closing;
    await Promise.allSettled([...this.connections].map((c) => c.chain));
  }

  stats() {
    return {
      connections: this.connections.size,
      waiting: this.waiting.length,
      owner: this.owner?.id ?? null,
    };
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    if (this.connections.size >= this.options.maxConnections) {
      // A real ErrorResponse (SQLSTATE 53300), so client pools report it as Postgres would.
      socket.end(errorResponse("FATAL", "53300", "sorry, too many clients already"));
      return;
    }
    const conn: Connection = {
      id: this.nextId++,
      socket,
      input: Buffer.alloc(0),
      startupDone: false,
      closed: false,
      channels: new Set(),
      chain: Promise.resolve(),
    };
    this.connections.add(conn);
    socket.on("data", (chunk) => {
      conn.input = Buffer.concat([conn.input, chunk]);
      for (let frame = this.nextFrame(conn); frame; frame = this.nextFrame(conn)) {
        const f = frame;
        conn.chain = conn.chain.then(() => this.handle(conn, f)).catch((err) => this.fail(conn, err));
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      conn.closed = true;
      this.connections.delete(conn);
      conn.chain = conn.chain.then(() => this.releaseClosed(conn));
    });
  }

  private nextFrame(conn: Connection): Frame | null {
    const buf = conn.input;
    if (!conn.startupDone) {
      if (buf.length < 8) return null;
      const length = buf.readInt32BE(0);
      if (buf.length < length) return null;
      const code = buf.readInt32BE(4);
      conn.input = buf.subarray(length);
      if (code === SSL_REQUEST) return { kind: "ssl", bytes: buf.subarray(0, length) };
      if (code === CANCEL_REQUEST) return { kind: "cancel", bytes: buf.subarray(0, length) };
      if (code === PROTOCOL_3) conn.startupDone = true;
      return { kind: "startup", bytes: buf.subarray(0, length) };
    }
    if (buf.length < 5) return null;
    const length = 1 + buf.readInt32BE(1);
    if (buf.length < length) return null;
    conn.input = buf.subarray(length);
    return { kind: "message", type: String.fromCharCode(buf[0]!), bytes: buf.subarray(0, length) };
  }

  private async handle(conn: Connection, frame: Frame): Promise<void> {
    if (conn.closed) return;
    if (frame.kind === "ssl") {
      conn.socket.write("N");
      return;
    }
    if (frame.kind === "cancel") {
      // Cancelling needs a second session, which PGlite does not have.
      conn.socket.end();
      return;
    }
    if (frame.kind === "message" && frame.type === "X") {
      conn.socket.end();
      return;
    }
    await this.acquire(conn);
    if (conn.closed) {
      await this.releaseClosed(conn);
      return;
    }
    if (frame.kind === "message") this.trackListen(conn, frame);
    await this.exec(conn, frame.bytes);
    const batchEnded =
      frame.kind === "startup" || (frame.kind === "message" && (frame.type === "S" || frame.type === "Q"));
    if (batchEnded && !this.db.isInTransaction()) this.release(conn);
  }

  private async exec(conn: Connection, message: Buffer): Promise<void> {
    let pending: Buffer = Buffer.alloc(0);
    await this.db.runExclusive(() =>
      this.db.execProtocolRawStream(new Uint8Array(message), {
        onRawData: (data) => {
          pending = Buffer.concat([pending, Buffer.from(data)]);
          pending = this.forward(conn, pending);
        },
      }),
    );
    if (pending.length > 0 && !conn.closed) conn.socket.write(pending);
  }

  /** Writes complete messages to `conn`, except notifications, which go to their listeners. */
  private forward(conn: Connection, data: Buffer): Buffer {
    const out: Buffer[] = [];
    let offset = 0;
    while (data.length - offset >= 5) {
      const length = 1 + data.readInt32BE(offset + 1);
      if (data.length - offset < length) break;
      const message = data.subarray(offset, offset + length);
      if (message[0] === 0x41 /* 'A' NotificationResponse */) this.notify(message);
      else out.push(message);
      offset += length;
    }
    if (out.length > 0 && !conn.closed) conn.socket.write(Buffer.concat(out));
    return data.subarray(offset);
  }

  private notify(message: Buffer): void {
    const end = message.indexOf(0, 9);
    const channel = message.toString("utf8", 9, end);
    for (const c of this.connections) {
      if (c.channels.has(channel) && !c.closed) c.socket.write(message);
    }
  }

  private trackListen(conn: Connection, frame: { type: string; bytes: Buffer }): void {
    let text: string;
    if (frame.type === "Q") text = frame.bytes.toString("utf8", 5, frame.bytes.length - 1);
    else if (frame.type === "P") {
      const nameEnd = frame.bytes.indexOf(0, 5);
      text = frame.bytes.toString("utf8", nameEnd + 1, frame.bytes.indexOf(0, nameEnd + 1));
    } else return;
    const match = /^\s*(un)?listen\s+(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*|\*))/i.exec(text);
    if (!match) return;
    const channel = match[2]?.replace(/""/g, '"') ?? match[3]!.toLowerCase();
    if (!match[1]) conn.channels.add(channel);
    else if (channel === "*") conn.channels.clear();
    else conn.channels.delete(channel);
  }

  private acquire(conn: Connection): Promise<void> {
    if (this.owner === null || this.owner === conn) {
      this.owner = conn;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ conn, resolve }));
  }

  private release(conn: Connection): void {
    if (this.owner !== conn) return;
    const next = this.waiting.shift();
    this.owner = next?.conn ?? null;
    next?.resolve();
  }

  /** A client gone mid-batch or mid-transaction must not leave the shared session in that state. */
  private async releaseClosed(conn: Connection): Promise<void> {
    if (this.owner !== conn) return;
    try {
      await this.db.runExclusive(() =>
        this.db.execProtocolRawStream(new Uint8Array(SYNC), { onRawData: () => {} }),
      );
      if (this.db.isInTransaction()) await this.db.exec("ROLLBACK");
    } catch (err) {
      this.options.log?.(`cleanup after client #${conn.id} failed: ${(err as Error).message}`);
    }
    this.release(conn);
  }

  private async fail(conn: Connection, err: unknown): Promise<void> {
    this.options.log?.(`client #${conn.id}: ${(err as Error).message}`);
    conn.socket.destroy();
    await this.releaseClosed(conn);
  }
}

function errorResponse(severity: string, code: string, message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0`, "utf8"),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write("E", 0);
  header.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}
