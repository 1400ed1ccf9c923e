export { buildEngineApp, ENGINE_ROUTES, type EngineDeps } from './app.js';
export { listenOnSocket, type EngineServer } from './server.js';
export { imageRoutes, type ImageRoutesOptions } from './images.js';
export { containerRoutes, type ContainerRoutesOptions } from './containers.js';
export { networkRoutes, parseNetworkCreateBody, NodeNetworks, type NetworkApi } from './networks.js';
