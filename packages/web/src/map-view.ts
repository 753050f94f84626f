// The image as the model sees it, the RoI on it (drawn and moved with the pointer), and the map
// of block effects over it: running means while a run goes, the result once it is done.
import { divergingColour, imageRgba, type BlockEffect, type ProvisionalEffect } from '@pdcr/core';
import type { PlanarImage, Region } from '@pdcr/kernels';

/** What hovering a block shows. */
type Cell =
  | { readonly kind: 'running'; readonly effect: ProvisionalEffect }
  | { readonly kind: 'final'; readonly effect: BlockEffect };

const MAP_ALPHA = 0.7;
/** The map canvas is drawn at least this wide, so that the RoI's outline stays thin. */
const MAP_MIN_WIDTH = 640;

export class MapView {
  private image: PlanarImage | null = null;
  private roi: Region | null = null;
  private cells = new Map<string, Cell>();
  /** Map canvas pixels per image pixel. */
  private scale = 1;
  private drag: { mode: 'move' | 'draw'; startY: number; startX: number; from: Region } | null =
    null;

  constructor(
    private readonly imageCanvas: HTMLCanvasElement,
    private readonly mapCanvas: HTMLCanvasElement,
    private readonly tooltip: HTMLElement,
    private readonly onRoiChange: (roi: Region) => void,
  ) {
    mapCanvas.addEventListener('pointerdown', (event) => this.startDrag(event));
    mapCanvas.addEventListener('pointermove', (event) => this.pointerMove(event));
    mapCanvas.addEventListener('pointerup', () => (this.drag = null));
    mapCanvas.addEventListener('pointerleave', () => (this.tooltip.hidden = true));
  }

  /** Shows a new image and forgets the map. */
  showImage(image: PlanarImage): void {
    this.image = image;
    this.imageCanvas.width = image.width;
    this.imageCanvas.height = image.height;
    this.scale = Math.max(1, Math.ceil(MAP_MIN_WIDTH / image.width));
    this.mapCanvas.width = image.width * this.scale;
    this.mapCanvas.height = image.height * this.scale;
    this.mapCanvas.parentElement!.style.aspectRatio = `${image.width} / ${image.height}`;
    const context = this.imageCanvas.getContext('2d')!;
    context.putImageData(new ImageData(imageRgba(image), image.width, image.height), 0, 0);
    this.clearMap();
  }

  get imageSize(): { height: number; width: number } | null {
    return this.image ? { height: this.image.height, width: this.image.width } : null;
  }

  setRoi(roi: Region | null): void {
    this.roi = roi;
    this.draw();
  }

  clearMap(): void {
    this.cells.clear();
    this.draw();
  }

  /** Running means of the blocks sampled in the last batch. */
  addRunning(effects: readonly ProvisionalEffect[]): void {
    for (const effect of effects) {
      this.cells.set(key(effect), { kind: 'running', effect });
    }
    this.draw();
  }

  /** The finished map: it replaces every running mean. */
  showResult(blocks: readonly BlockEffect[]): void {
    this.cells.clear();
    for (const effect of blocks) this.cells.set(key(effect), { kind: 'final', effect });
    this.draw();
  }

  private draw(): void {
    const context = this.mapCanvas.getContext('2d')!;
    context.clearRect(0, 0, this.mapCanvas.width, this.mapCanvas.height);
    const values = [...this.cells.values()].map(valueOf);
    const scale = Math.max(...values.map(Math.abs), 0) || 1;
    for (const cell of this.cells.values()) {
      const value = valueOf(cell);
      if (value === 0) continue;
      const [r, g, b] = divergingColour(value, scale);
      context.fillStyle = `rgba(${r}, ${g}, ${b}, ${MAP_ALPHA})`;
      const { top, left, height, width } = cell.effect;
      const s = this.scale;
      context.fillRect(left * s, top * s, width * s, height * s);
    }
    if (this.roi) {
      context.strokeStyle = '#ffd400';
      context.lineWidth = 2;
      const { top, left, height, width } = this.roi;
      const s = this.scale;
      context.strokeRect(left * s + 1, top * s + 1, width * s - 2, height * s - 2);
    }
  }

  /** The image pixel under the pointer. */
  private pixelAt(event: PointerEvent): { y: number; x: number } {
    const bounds = this.mapCanvas.getBoundingClientRect();
    return {
      y: Math.floor(((event.clientY - bounds.top) / bounds.height) * this.imageCanvas.height),
      x: Math.floor(((event.clientX - bounds.left) / bounds.width) * this.imageCanvas.width),
    };
  }

  private startDrag(event: PointerEvent): void {
    if (!this.image) return;
    const { y, x } = this.pixelAt(event);
    const inside =
      this.roi !== null &&
      y >= this.roi.top &&
      y < this.roi.top + this.roi.height &&
      x >= this.roi.left &&
      x < this.roi.left + this.roi.width;
    this.drag = {
      mode: inside ? 'move' : 'draw',
      startY: y,
      startX: x,
      from: this.roi ?? { top: y, left: x, height: 1, width: 1 },
    };
    this.mapCanvas.setPointerCapture(event.pointerId);
  }

  private pointerMove(event: PointerEvent): void {
    const { y, x } = this.pixelAt(event);
    if (this.drag && this.image) {
      const { height, width } = this.image;
      const clamp = (value: number, low: number, high: number) =>
        Math.max(low, Math.min(high, value));
      let roi: Region;
      if (this.drag.mode === 'move') {
        const { from } = this.drag;
        roi = {
          ...from,
          top: clamp(from.top + y - this.drag.startY, 0, height - from.height),
          left: clamp(from.left + x - this.drag.startX, 0, width - from.width),
        };
      } else {
        const y0 = clamp(Math.min(y, this.drag.startY), 0, height - 1);
        const x0 = clamp(Math.min(x, this.drag.startX), 0, width - 1);
        const y1 = clamp(Math.max(y, this.drag.startY), 0, height - 1);
        const x1 = clamp(Math.max(x, this.drag.startX), 0, width - 1);
        roi = { top: y0, left: x0, height: y1 - y0 + 1, width: x1 - x0 + 1 };
      }
      this.setRoi(roi);
      this.onRoiChange(roi);
      return;
    }
    this.showTooltip(event, y, x);
  }

  private showTooltip(event: PointerEvent, y: number, x: number): void {
    const cell = [...this.cells.values()].find(
      ({ effect }) =>
        y >= effect.top &&
        y < effect.top + effect.height &&
        x >= effect.left &&
        x < effect.left + effect.width,
    );
    if (!cell) {
      this.tooltip.hidden = true;
      return;
    }
    this.tooltip.textContent = describeCell(cell);
    const stack = this.mapCanvas.parentElement!.getBoundingClientRect();
    this.tooltip.style.left = `${event.clientX - stack.left + 12}px`;
    this.tooltip.style.top = `${event.clientY - stack.top + 12}px`;
    this.tooltip.hidden = false;
  }
}

function key(region: { top: number; left: number }): string {
  return `${region.top},${region.left}`;
}

function valueOf(cell: Cell): number {
  return cell.kind === 'running' ? cell.effect.mean : cell.effect.ate;
}

const format = (value: number) => value.toFixed(4);

export function describeCell(cell: Cell): string {
  const { top, left, height, width } = cell.effect;
  const where = `block at row ${top}, column ${left} (${height}x${width})`;
  if (cell.kind === 'running') {
    return `${where}: running mean ${format(cell.effect.mean)} after ${cell.effect.n} draws`;
  }
  const { ate, ciLow, ciHigh, n, significant, screened } = cell.effect;
  return (
    `${where}: ATE ${format(ate)}, 95% interval [${format(ciLow)}, ${format(ciHigh)}], ` +
    `n = ${n}${significant ? ', significant' : ''}${screened ? ', screened out' : ''}`
  );
}
