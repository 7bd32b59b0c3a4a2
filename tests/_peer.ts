// A test peer with a known pid: `deno run -A tests/_peer.ts MODE HOST PORT TAG`.
// Modes: tcp-server (accepts one connection), tcp-client, udp-server (answers
// one datagram), udp-client. It prints "ready PORT" once listening or bound,
// and "done" when finished; payloads carry TAG.
import dgram from "node:dgram";

const [mode, host, portArg, tag = "x"] = Deno.args;
const port = Number(portArg);
const enc = new TextEncoder();
const say = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));

if (mode === "tcp-server") {
  const l = Deno.listen({ hostname: host!, port });
  say(`ready ${(l.addr as Deno.NetAddr).port}`);
  const c = await l.accept();
  const buf = new Uint8Array(64);
  await c.read(buf);
  await c.write(enc.encode(`pong ${tag}`));
  await c.read(buf); // until the client closes
  c.close();
  l.close();
} else if (mode === "tcp-client") {
  const c = await Deno.connect({ hostname: host!, port });
  await c.write(enc.encode(`ping ${tag}`));
  await c.read(new Uint8Array(64));
  c.close();
} else if (mode === "udp-server") {
  const s = dgram.createSocket(host!.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((r) => s.bind(port, host, () => r()));
  say(`ready ${s.address().port}`);
  await new Promise<void>((r) =>
    s.once("message", (_m, rinfo) => {
      s.send(`pong ${tag}`, rinfo.port, rinfo.address, () => r());
    })
  );
  s.close();
} else if (mode === "udp-client") {
  const s = dgram.createSocket(host!.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((r) => {
    s.once("message", () => r());
    s.send(`ping ${tag}`, port, host);
  });
  s.close();
}
say("done");
