import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ServingCertificate {
  cert: string;
  key: string;
}

let cached: ServingCertificate | undefined;

/** openssl makes a P-256 certificate in milliseconds. */
function withOpenssl(): ServingCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-sandbox-tls-'));
  try {
    const keyPath = path.join(dir, 'key.pem');
    const certPath = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '3650',
        '-subj',
        '/CN=coalmine-sandbox',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,digitalSignature,keyCertSign',
        '-addext',
        'extendedKeyUsage=serverAuth',
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    return {
      cert: fs.readFileSync(certPath, 'utf8'),
      key: fs.readFileSync(keyPath, 'utf8'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Pure JavaScript fallback where there is no openssl binary (slower to load). */
function withSelfsigned(): ServingCertificate {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const selfsigned = require('selfsigned') as typeof import('selfsigned');
  const pems = selfsigned.generate(
    [{ name: 'commonName', value: 'coalmine-sandbox' }],
    {
      days: 3650,
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'keyUsage',
          keyCertSign: true,
          digitalSignature: true,
          keyEncipherment: true,
        },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private };
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost. kubectl sends a
 * bearer token only over TLS, so the kubeconfig the sandbox writes points at
 * https with this certificate as its CA; one per process is enough.
 */
export function servingCertificate(): ServingCertificate {
  if (cached) return cached;
  try {
    cached = withOpenssl();
  } catch {
    cached = withSelfsigned();
  }
  return cached;
}
