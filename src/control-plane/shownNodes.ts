import type { IrNodeInfo, IrSummary } from '../shared/controlPlaneApi';
import { majorityVersion } from '../shared/versionPolicy';

/**
 * How `ir nodes` shows each node: Upgrading while it drains (and once it has
 * stopped after a drain), and Limited when it is up but runs another version
 * than most of its IR (see README, "Version policy": it still gets jobs; the
 * mark is a warning that the IR is part-way through an update).
 */
export function shownNodes(summary: IrSummary): {
  majority: string | null;
  nodes: (IrNodeInfo & { shownStatus: string; versionDiffers: boolean })[];
} {
  const majority = majorityVersion(summary.nodes.map((n) => n.version));
  return {
    majority,
    nodes: summary.nodes.map((node) => {
      const versionDiffers = majority !== null && node.version !== majority;
      const up = node.status === 'Online' || node.status === 'Limited';
      const shownStatus = node.draining ? 'Upgrading' : versionDiffers && up ? 'Limited' : node.status;
      return { ...node, shownStatus, versionDiffers };
    }),
  };
}
