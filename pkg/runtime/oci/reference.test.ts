import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { makeReference, parseReference, withDigest, withTag } from './reference.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference: valid references normalise as Docker does', () => {
  const cases: Array<[string, string, string, { domain: string; path: string; tag?: string; digest?: string }]> = [
    // input, full string, familiar, parts
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest', { domain: 'docker.io', path: 'library/busybox' }],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest', { domain: 'docker.io', path: 'library/busybox' }],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest', { domain: 'docker.io', path: 'library/busybox' }],
    ['index.docker.io/foo/bar:x', 'docker.io/foo/bar:x', 'foo/bar:x', { domain: 'docker.io', path: 'foo/bar', tag: 'x' }],
    ['foo/bar', 'docker.io/foo/bar:latest', 'foo/bar:latest', { domain: 'docker.io', path: 'foo/bar' }],
    ['docker.io/library/foo/bar', 'docker.io/library/foo/bar:latest', 'library/foo/bar:latest', { domain: 'docker.io', path: 'library/foo/bar' }],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest', { domain: 'localhost', path: 'foo' }],
    ['localhost:5000/team/app:1.2', 'localhost:5000/team/app:1.2', 'localhost:5000/team/app:1.2', { domain: 'localhost:5000', path: 'team/app', tag: '1.2' }],
    // a bare "localhost:5000" is the image "localhost" with tag 5000, as in Docker
    ['localhost:5000', 'docker.io/library/localhost:5000', 'localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }],
    ['127.0.0.1:5001/x', '127.0.0.1:5001/x:latest', '127.0.0.1:5001/x:latest', { domain: '127.0.0.1:5001', path: 'x' }],
    ['registry:5000/team/app:1.2', 'registry:5000/team/app:1.2', 'registry:5000/team/app:1.2', { domain: 'registry:5000', path: 'team/app' }],
    ['quay.io/coreos/etcd', 'quay.io/coreos/etcd:latest', 'quay.io/coreos/etcd:latest', { domain: 'quay.io', path: 'coreos/etcd' }],
    ['[::1]:5000/foo', '[::1]:5000/foo:latest', '[::1]:5000/foo:latest', { domain: '[::1]:5000', path: 'foo' }],
    ['Foo.example/bar', 'Foo.example/bar:latest', 'Foo.example/bar:latest', { domain: 'Foo.example', path: 'bar' }],
    // upper case in the first component makes it a host (Docker's rule)
    ['Registry/bar', 'Registry/bar:latest', 'Registry/bar:latest', { domain: 'Registry', path: 'bar' }],
    ['foo.com', 'docker.io/library/foo.com:latest', 'foo.com:latest', { domain: 'docker.io', path: 'library/foo.com' }],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`, { domain: 'docker.io', path: 'library/busybox', digest: D }],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`, { domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D }],
    [`localhost:5000/a/b:c@${D}`, `localhost:5000/a/b:c@${D}`, `localhost:5000/a/b:c@${D}`, { domain: 'localhost:5000', path: 'a/b', tag: 'c', digest: D }],
    ['a-b__c_d/e.f--g:T_a.g-1', 'docker.io/a-b__c_d/e.f--g:T_a.g-1', 'a-b__c_d/e.f--g:T_a.g-1', { domain: 'docker.io', path: 'a-b__c_d/e.f--g', tag: 'T_a.g-1' }],
    ['x:' + 'a'.repeat(128), 'docker.io/library/x:' + 'a'.repeat(128), 'x:' + 'a'.repeat(128), { domain: 'docker.io', path: 'library/x' }],
    ['a'.repeat(63), `docker.io/library/${'a'.repeat(63)}:latest`, `${'a'.repeat(63)}:latest`, { domain: 'docker.io', path: `library/${'a'.repeat(63)}` }],
  ];
  it.each(cases)('%s', (input, full, familiar, parts) => {
    const r = parseReference(input);
    expect(r.toString()).toBe(full);
    expect(r.familiar).toBe(familiar);
    expect(r.domain).toBe(parts.domain);
    expect(r.path).toBe(parts.path);
    if (parts.tag !== undefined) expect(r.tag).toBe(parts.tag);
    if (parts.digest !== undefined) expect(r.digest).toBe(parts.digest);
    expect(r.repository).toBe(`${parts.domain}/${parts.path}`);
    // normalising is idempotent
    expect(parseReference(r.toString()).toString()).toBe(full);
  });

  it('keeps a digest-only reference untagged', () => {
    const r = parseReference(`busybox@${D}`);
    expect(r.tag).toBeUndefined();
    expect(r.digest).toBe(D);
  });
});

describe('parseReference: invalid references are InvalidArgument naming input and reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    [' busybox', /whitespace/],
    ['Busybox', /must be lowercase/],
    ['foo/Bar', /must be lowercase/],
    ['a'.repeat(64), /image ID/],
    ['busybox:', /invalid tag ""/],
    ['busybox:-x', /invalid tag/],
    ['busybox:.x', /invalid tag/],
    ['busybox:' + 'a'.repeat(129), /invalid tag/],
    ['busybox:a/b', /lowercase|invalid/],
    ['busybox@sha256:abc', /64 hex/],
    ['busybox@sha256:' + 'A'.repeat(64), /lowercase hexadecimal/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported algorithm/],
    ['busybox@', /invalid digest/],
    ['-foo', /invalid repository name/],
    ['foo-', /invalid repository name/],
    ['foo//bar', /invalid repository name/],
    ['foo/', /invalid repository name/],
    ['/foo', /invalid repository name|missing|host/],
    ['foo...bar', /invalid repository name/],
    ['foo_-bar', /invalid repository name/],
    ['foo___bar', /invalid repository name/],
    ['localhost:abc/foo', /invalid registry host/],
    ['-host.com/foo', /invalid registry host/],
    [':tag', /missing repository name/],
    ['foo:bar:baz', /invalid/],
    ['example.com/' + 'a'.repeat(250), /255/],
    ['foo bar', /invalid/],
    ['a.b_c/x', /invalid registry host/],
    ['ubuntu:latest@', /invalid digest/],
  ];
  it.each(cases)('%j', (input, why) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(isShoalError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toContain(`"${input}"`);
    expect((err as Error).message).toMatch(why);
  });
});

describe('reference helpers', () => {
  it('changes tag and digest', () => {
    const r = parseReference('localhost:5000/a:1');
    expect(withTag(r, '2').toString()).toBe('localhost:5000/a:2');
    expect(withDigest(r, D).toString()).toBe(`localhost:5000/a@${D}`);
    expect(makeReference({ domain: 'docker.io', path: 'library/x' }).toString()).toBe('docker.io/library/x');
    expect(() => withTag(r, '!')).toThrow(/invalid tag/);
  });
  it('serialises to JSON as its string', () => {
    expect(JSON.stringify({ r: parseReference('busybox') })).toBe('{"r":"docker.io/library/busybox:latest"}');
  });
});
