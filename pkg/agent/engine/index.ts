export { buildEngineApp, type EngineDeps } from './app.js';
export { listenOnSocket, type EngineServer } from './server.js';
export { containerRoutes, type ContainerRoutesOptions } from './containers.js';
export { NodeNetworks, type NetworkApi } from './networks.js';
