// The agent's front door: cmd/agent starts it from a config; tests reach the engine routes,
// the session and the tunnel (with its fake engine) through here.
export * from './config.js';
export { startAgent, type RunningAgent, type StartAgentOptions } from './start-agent.js';
export * from './engine/index.js';
export * from './session/index.js';
