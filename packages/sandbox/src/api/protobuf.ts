/**
 * Just enough of the Kubernetes protobuf encoding to accept what kubectl's
 * typed `create` subcommands send for simple kinds (`kubectl create
 * namespace`, `kubectl create configmap`): the `k8s\0` envelope, TypeMeta and
 * ObjectMeta's name, generateName, namespace, labels and annotations, plus a
 * ConfigMap's data. Other kinds stay 415 (use kubectl apply).
 */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Field = { num: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, start: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  let pos = start;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos];
    pos++;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    pos = afterKey;
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, next] = readVarint(buf, pos);
      out.push({ num, wire, value: v });
      pos = next;
    } else if (wire === 2) {
      const [len, next] = readVarint(buf, pos);
      const end = next + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ num, wire, value: buf.subarray(next, end) });
      pos = end;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

const str = (f: Field) => (f.value as Buffer).toString('utf8');

function stringMap(entries: Field[]): Record<string, string> | undefined {
  if (entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const kv = fields(e.value as Buffer);
    const k = kv.find(f => f.num === 1);
    const v = kv.find(f => f.num === 2);
    out[k ? str(k) : ''] = v ? str(v) : '';
  }
  return out;
}

function objectMeta(buf: Buffer): Record<string, unknown> {
  const f = fields(buf);
  const one = (n: number) => f.find(x => x.num === n && x.wire === 2);
  const meta: Record<string, unknown> = {};
  if (one(1)) meta.name = str(one(1)!);
  if (one(2)) meta.generateName = str(one(2)!);
  if (one(3)) meta.namespace = str(one(3)!);
  const labels = stringMap(f.filter(x => x.num === 11 && x.wire === 2));
  if (labels) meta.labels = labels;
  const annotations = stringMap(f.filter(x => x.num === 12 && x.wire === 2));
  if (annotations) meta.annotations = annotations;
  return meta;
}

export class ProtobufUnsupportedError extends Error {}

/** Decode a protobuf request body into the JSON object it stands for. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new ProtobufUnsupportedError('not a Kubernetes protobuf envelope');
  }
  const envelope = fields(body.subarray(4));
  const typeMeta = envelope.find(f => f.num === 1 && f.wire === 2);
  const raw = envelope.find(f => f.num === 2 && f.wire === 2);
  const tm = typeMeta ? fields(typeMeta.value as Buffer) : [];
  const apiVersion = tm.find(f => f.num === 1);
  const kind = tm.find(f => f.num === 2);
  const kindName = kind ? str(kind) : '';
  if (!raw || !['Namespace', 'ConfigMap'].includes(kindName)) {
    throw new ProtobufUnsupportedError(
      `protobuf bodies are decoded for Namespace and ConfigMap only, not ${
        kindName || 'this kind'
      }`,
    );
  }
  const top = fields(raw.value as Buffer);
  const meta = top.find(f => f.num === 1 && f.wire === 2);
  const obj: Record<string, unknown> = {
    apiVersion: apiVersion ? str(apiVersion) : 'v1',
    kind: kindName,
    metadata: meta ? objectMeta(meta.value as Buffer) : {},
  };
  if (kindName === 'ConfigMap') {
    const data = stringMap(top.filter(f => f.num === 2 && f.wire === 2));
    if (data) obj.data = data;
  }
  return obj;
}
