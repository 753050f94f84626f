// Batched intervention: writes B intervened copies of a base image (C x H x W, C <= 4) in which
// the blocks that the plan names are replaced by patches of a bank (P x C x bh x bw), with the
// model's preprocessing applied on the way out.
//
// Entry points (both use the one bind group below):
//   sampleStatistics  one workgroup per sample; per-image mean and 1/(std + eps) of each channel
//                     of the intervened image, derived from the base statistics and the replaced
//                     blocks alone. Only dispatched for PREPROCESSING == 2 (z-score).
//   writeBatch        one invocation per (x, y, sample); workgroup TILE_WIDTH x TILE_HEIGHT.
//
// Bindings (group 0): params (uniform), baseImage, patchBank, patchOfBlock (B x G, KEEP_BLOCK
// where the block keeps its base pixels), sampleStats (2 vec4 per sample), batch (B x C x H x W).

// 0: none, 1: fixed mean and std per channel, 2: per-image z-score of each channel.
override PREPROCESSING: u32 = 0u;
override TILE_WIDTH: u32 = 64u;
override TILE_HEIGHT: u32 = 4u;
// Threads that share one sample's statistics; a power of two.
override STATS_WORKGROUP_SIZE: u32 = 64u;

const KEEP_BLOCK: u32 = 0xffffffffu;

struct Params {
  batchSize: u32,
  channels: u32,
  height: u32,
  width: u32,
  blockHeight: u32,
  blockWidth: u32,
  gridColumns: u32,
  blockCount: u32,
  // PREPROCESSING == 1: (x - mean) * inverseStd per channel.
  mean: vec4<f32>,
  inverseStd: vec4<f32>,
  // PREPROCESSING == 2: statistics of the base image per channel: its mean, and the sum of
  // squared deviations from that mean over its H * W pixels.
  baseMean: vec4<f32>,
  baseSquaredDeviations: vec4<f32>,
  epsilon: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> baseImage: array<f32>;
@group(0) @binding(2) var<storage, read> patchBank: array<f32>;
@group(0) @binding(3) var<storage, read> patchOfBlock: array<u32>;
@group(0) @binding(4) var<storage, read_write> sampleStats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> batch: array<f32>;

var<workgroup> partialSums: array<vec4<f32>, STATS_WORKGROUP_SIZE>;
var<workgroup> partialSquares: array<vec4<f32>, STATS_WORKGROUP_SIZE>;

struct BlockChange {
  sums: vec4<f32>,
  squares: vec4<f32>,
}

// The change, per channel, in the sum and in the sum of squared deviations (both measured from
// the base mean) that replacing one block's pixels by a patch's makes.
fn blockChange(blockIndex: u32, patchIndex: u32) -> BlockChange {
  let top = (blockIndex / params.gridColumns) * params.blockHeight;
  let left = (blockIndex % params.gridColumns) * params.blockWidth;
  let rows = min(params.blockHeight, params.height - top);
  let columns = min(params.blockWidth, params.width - left);
  let planeSize = params.height * params.width;
  let patchPlaneSize = params.blockHeight * params.blockWidth;
  var change = BlockChange(vec4<f32>(0.0), vec4<f32>(0.0));
  for (var c = 0u; c < params.channels; c++) {
    let shift = params.baseMean[c];
    for (var r = 0u; r < rows; r++) {
      for (var q = 0u; q < columns; q++) {
        let original = baseImage[c * planeSize + (top + r) * params.width + left + q] - shift;
        let replaced = patchBank[(patchIndex * params.channels + c) * patchPlaneSize
                                 + r * params.blockWidth + q] - shift;
        change.sums[c] += replaced - original;
        change.squares[c] += replaced * replaced - original * original;
      }
    }
  }
  return change;
}

@compute @workgroup_size(STATS_WORKGROUP_SIZE)
fn sampleStatistics(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
  let sample = group.x;
  var sums = vec4<f32>(0.0);
  var squares = vec4<f32>(0.0);
  if (sample < params.batchSize) {
    for (var blockIndex = lane; blockIndex < params.blockCount;
         blockIndex += STATS_WORKGROUP_SIZE) {
      let patchIndex = patchOfBlock[sample * params.blockCount + blockIndex];
      if (patchIndex != KEEP_BLOCK) {
        let change = blockChange(blockIndex, patchIndex);
        sums += change.sums;
        squares += change.squares;
      }
    }
  }
  partialSums[lane] = sums;
  partialSquares[lane] = squares;
  workgroupBarrier();

  for (var stride = STATS_WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partialSums[lane] += partialSums[lane + stride];
      partialSquares[lane] += partialSquares[lane + stride];
    }
    workgroupBarrier();
  }

  if (lane == 0u && sample < params.batchSize) {
    let pixelCount = f32(params.height * params.width);
    let meanShift = partialSums[0] / pixelCount;
    let variance = max((params.baseSquaredDeviations + partialSquares[0]) / pixelCount
                       - meanShift * meanShift, vec4<f32>(0.0));
    sampleStats[2u * sample] = params.baseMean + meanShift;
    sampleStats[2u * sample + 1u] = 1.0 / (sqrt(variance) + params.epsilon);
  }
}

@compute @workgroup_size(TILE_WIDTH, TILE_HEIGHT)
fn writeBatch(@builtin(global_invocation_id) id: vec3<u32>) {
  let x = id.x;
  let y = id.y;
  let sample = id.z;
  if (x >= params.width || y >= params.height || sample >= params.batchSize) {
    return;
  }

  let blockRow = y / params.blockHeight;
  let blockColumn = x / params.blockWidth;
  let blockIndex = blockRow * params.gridColumns + blockColumn;
  let patchIndex = patchOfBlock[sample * params.blockCount + blockIndex];
  let planeSize = params.height * params.width;
  let patchPlaneSize = params.blockHeight * params.blockWidth;
  let inPatch = (y - blockRow * params.blockHeight) * params.blockWidth
                + x - blockColumn * params.blockWidth;

  var offset = vec4<f32>(0.0);
  var scale = vec4<f32>(1.0);
  if (PREPROCESSING == 1u) {
    offset = params.mean;
    scale = params.inverseStd;
  } else if (PREPROCESSING == 2u) {
    offset = sampleStats[2u * sample];
    scale = sampleStats[2u * sample + 1u];
  }

  for (var c = 0u; c < params.channels; c++) {
    var value: f32;
    if (patchIndex == KEEP_BLOCK) {
      value = baseImage[c * planeSize + y * params.width + x];
    } else {
      value = patchBank[(patchIndex * params.channels + c) * patchPlaneSize + inPatch];
    }
    batch[(sample * params.channels + c) * planeSize + y * params.width + x] =
        (value - offset[c]) * scale[c];
  }
}
