/**
 * Adapts the image service's inspect (`GET /v1/images/:ref/json` shape) to what the container
 * manager needs: id, config and the overlay lower dirs (top first). Structural, so this
 * package does not depend on the image package.
 */
import type { ImageProvider } from './types.js';
import type { ImageRuntimeConfig } from '../../api/index.js';

export interface InspectableImages {
  inspect(refOrId: string): Promise<{
    Id: string;
    RepoTags?: string[];
    Config?: ImageRuntimeConfig;
    GraphDriver: { Data: { LowerDirs: string[] } };
  }>;
}

export function imageProviderFrom(images: InspectableImages): ImageProvider {
  return {
    async resolveForRun(ref) {
      const img = await images.inspect(ref);
      return { id: img.Id, ref, config: img.Config ?? {}, lowerDirs: img.GraphDriver.Data.LowerDirs };
    },
  };
}
