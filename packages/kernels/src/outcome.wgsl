// Outcome scoring and treatment-effect reduction over a model's output batch (B x K x H x W).
//
// Entry points (both use the one bind group below):
//   scoreSamples       one workgroup of WORKGROUP_SIZE per sample: applies the activation to the
//                      class channel inside the RoI only, compares it with the reference and
//                      writes the sample's score: NaN where any RoI value is NaN or infinite,
//                      so that a broken model cannot pass for an unaffected one.
//   accumulateEffects  one invocation per accumulator: adds count, sum and sum of squares of
//                      (score - baseScore) over the samples whose target is that accumulator, in
//                      sample order, so that the result does not depend on scheduling.
//
// Bindings (group 0): params (uniform), modelOutput, reference (RoI-sized: the reference mask
// as 0/1 for the overlap metrics, the base image's activated output for MAX_ABS_DIFFERENCE),
// sampleTarget (accumulator per sample, NO_TARGET to skip), scores (B), effects (A x 3 as
// count, sum, sum of squares; added to, not overwritten).

// 0: none, 1: sigmoid, 2: softmax over K, read at classIndex.
override ACTIVATION: u32 = 0u;
// 0: hard Dice x100, 1: soft Dice x100, 2: IoU x100, 3: mean value x100, 4: max |value - ref|.
override METRIC: u32 = 0u;
// A power of two.
override WORKGROUP_SIZE: u32 = 256u;
override ACCUMULATE_WORKGROUP_SIZE: u32 = 64u;

const NO_TARGET: u32 = 0xffffffffu;
// The paper's smoothing term in Dice = 2|A and B| / (|A| + |B| + 1e-10).
const OVERLAP_EPSILON: f32 = 1e-10;

struct Params {
  batchSize: u32,
  classes: u32,
  height: u32,
  width: u32,
  roiTop: u32,
  roiLeft: u32,
  roiHeight: u32,
  roiWidth: u32,
  classIndex: u32,
  accumulatorCount: u32,
  threshold: f32,
  baseScore: f32,
  // The bits of a quiet NaN, given at run time: WGSL rejects NaN in constant expressions.
  nanBits: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> modelOutput: array<f32>;
@group(0) @binding(2) var<storage, read> reference: array<f32>;
@group(0) @binding(3) var<storage, read> sampleTarget: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> effects: array<f32>;

// Per lane: the metric's tally (xyz) and the number of non-finite values met (w).
var<workgroup> partials: array<vec4<f32>, WORKGROUP_SIZE>;

fn isFinite(value: f32) -> bool {
  return (bitcast<u32>(value) & 0x7f800000u) != 0x7f800000u;
}

// Whether the raw values the activation reads at (y, x) are all finite. Checked on the raw
// output because GPUs need not carry NaN through exp.
fn rawFinite(sample: u32, y: u32, x: u32) -> bool {
  let planeSize = params.height * params.width;
  let pixel = y * params.width + x;
  if (ACTIVATION == 2u) {
    for (var k = 0u; k < params.classes; k++) {
      if (!isFinite(modelOutput[(sample * params.classes + k) * planeSize + pixel])) {
        return false;
      }
    }
    return true;
  }
  return isFinite(modelOutput[(sample * params.classes + params.classIndex) * planeSize + pixel]);
}

fn activated(sample: u32, y: u32, x: u32) -> f32 {
  let planeSize = params.height * params.width;
  let pixel = y * params.width + x;
  let raw = modelOutput[(sample * params.classes + params.classIndex) * planeSize + pixel];
  if (ACTIVATION == 1u) {
    return 1.0 / (1.0 + exp(-raw));
  }
  if (ACTIVATION == 2u) {
    var largest = raw;
    for (var k = 0u; k < params.classes; k++) {
      largest = max(largest, modelOutput[(sample * params.classes + k) * planeSize + pixel]);
    }
    var total = 0.0;
    for (var k = 0u; k < params.classes; k++) {
      total += exp(modelOutput[(sample * params.classes + k) * planeSize + pixel] - largest);
    }
    return exp(raw - largest) / total;
  }
  return raw;
}

// What one pixel adds to its sample's tally: (overlap, prediction, reference) for the overlap
// metrics, (value, 0, 0) for the mean, (|value - reference|, 0, 0) for the largest difference.
fn pixelTally(value: f32, expected: f32) -> vec3<f32> {
  if (METRIC == 0u || METRIC == 2u) {
    let predicted = select(0.0, 1.0, value > params.threshold);
    let truth = select(0.0, 1.0, expected > 0.5);
    return vec3<f32>(predicted * truth, predicted, truth);
  }
  if (METRIC == 1u) {
    return vec3<f32>(value * expected, value, expected);
  }
  if (METRIC == 3u) {
    return vec3<f32>(value, 0.0, 0.0);
  }
  return vec3<f32>(abs(value - expected), 0.0, 0.0);
}

fn combine(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  if (METRIC == 4u) {
    return vec4<f32>(max(a.xyz, b.xyz), a.w + b.w);
  }
  return a + b;
}

fn score(tally: vec3<f32>, pixelCount: f32) -> f32 {
  if (METRIC == 0u || METRIC == 1u) {
    return 100.0 * 2.0 * tally.x / (tally.y + tally.z + OVERLAP_EPSILON);
  }
  if (METRIC == 2u) {
    return 100.0 * tally.x / (tally.y + tally.z - tally.x + OVERLAP_EPSILON);
  }
  if (METRIC == 3u) {
    return 100.0 * tally.x / pixelCount;
  }
  return tally.x;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn scoreSamples(@builtin(workgroup_id) group: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
  let sample = group.x;
  let pixelCount = params.roiHeight * params.roiWidth;
  var tally = vec4<f32>(0.0);
  if (sample < params.batchSize) {
    for (var i = lane; i < pixelCount; i += WORKGROUP_SIZE) {
      let y = params.roiTop + i / params.roiWidth;
      let x = params.roiLeft + i % params.roiWidth;
      if (rawFinite(sample, y, x)) {
        tally = combine(tally, vec4<f32>(pixelTally(activated(sample, y, x), reference[i]), 0.0));
      } else {
        tally.w += 1.0;
      }
    }
  }
  partials[lane] = tally;
  workgroupBarrier();

  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partials[lane] = combine(partials[lane], partials[lane + stride]);
    }
    workgroupBarrier();
  }

  if (lane == 0u && sample < params.batchSize) {
    if (partials[0].w > 0.0) {
      scores[sample] = bitcast<f32>(params.nanBits);
    } else {
      scores[sample] = score(partials[0].xyz, f32(pixelCount));
    }
  }
}

@compute @workgroup_size(ACCUMULATE_WORKGROUP_SIZE)
fn accumulateEffects(@builtin(global_invocation_id) id: vec3<u32>) {
  let accumulator = id.x;
  if (accumulator >= params.accumulatorCount) {
    return;
  }
  var count = 0.0;
  var sum = 0.0;
  var squares = 0.0;
  for (var sample = 0u; sample < params.batchSize; sample++) {
    if (sampleTarget[sample] == accumulator) {
      let effect = scores[sample] - params.baseScore;
      count += 1.0;
      sum += effect;
      squares += effect * effect;
    }
  }
  effects[3u * accumulator] += count;
  effects[3u * accumulator + 1u] += sum;
  effects[3u * accumulator + 2u] += squares;
}
