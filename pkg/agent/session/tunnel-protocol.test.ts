import { describe, expect, it } from 'vitest';
import { errors, type TunnelRequest } from '../../api/index.js';
import { engineRequest, errorLine, parseTunnelLine } from './tunnel-protocol.js';

const logsReq = (id: string, container: string, query: Record<string, string> = {}): TunnelRequest => ({ id, op: 'logs', container, task: `default/t-${container}`, query });

describe('parseTunnelLine and engineRequest (pure)', () => {
  it('accepts the three kinds of lines and refuses anything else', () => {
    expect(parseTunnelLine('{"op":"ping"}')).toEqual({ op: 'ping' });
    expect(parseTunnelLine('{"op":"cancel","id":"a1"}')).toEqual({ op: 'cancel', id: 'a1' });
    expect(parseTunnelLine('{"id":"a1","op":"logs","container":"c1","task":"default/web.1.x","query":{"tail":"5","bad":3}}')).toEqual({
      id: 'a1', op: 'logs', container: 'c1', task: 'default/web.1.x', query: { tail: '5' },
    });
    for (const bad of ['', 'nope', '[]', '{"op":"logs"}', '{"id":"a/b","op":"logs","container":"c","task":"t"}', '{"id":"a","op":"rm","container":"c","task":"t"}', '{"id":"a","op":"logs","container":"../x","task":"t"}', '{"id":"a","op":"exec","container":"c","task":"t","query":[]}']) {
      expect(parseTunnelLine(bad)).toBeUndefined();
    }
  });

  it('builds the engine request with only the parameters each route takes', () => {
    expect(engineRequest(logsReq('1', 'c1', { follow: '1', tail: '10', since: '123', spec: 'x' }))).toEqual({ method: 'GET', path: '/v1/containers/c1/logs?follow=1&tail=10&since=123', stdin: false });
    expect(engineRequest(logsReq('1', 'c1'))).toEqual({ method: 'GET', path: '/v1/containers/c1/logs', stdin: false });
    expect(engineRequest({ id: '1', op: 'exec', container: 'c1', task: 't', query: { spec: 'e30=', stdin: '1', follow: '1' } })).toEqual({ method: 'POST', path: '/v1/containers/c1/exec?spec=e30%3D', stdin: true });
    expect(() => engineRequest({ id: '1', op: 'exec', container: 'c1', task: 't', query: {} })).toThrow(/query.spec/);
  });
});

describe('errorLine', () => {
  it('is one NDJSON line holding the V1Status', () => {
    const line = errorLine(errors.unavailable('the engine stream broke'));
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ error: { kind: 'Status', status: 'Failure', code: 503, message: 'the engine stream broke' } });
  });
});
