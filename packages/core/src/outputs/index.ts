export { encodeNpy } from './npy.ts';
export {
  ateMap,
  divergingColour,
  heatmapPng,
  imagePng,
  imageRgba,
  mapScale,
  overlayPng,
} from './maps.ts';
export { histogram, histogramEdges, statsText } from './stats.ts';
export { effectByDistance, reportHtml } from './report.ts';
