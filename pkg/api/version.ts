/** The release of Shoal: one number for shoalctl, the agent and the controller. */
export const SHOAL_VERSION = '0.1.0';
