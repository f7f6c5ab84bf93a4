import { compact, segment } from "../encode.js";
import type { HttpClient } from "../http.js";
import type { CallOptions, SnapshotCreateRequest, SnapshotListParams, WorkspaceFromSnapshotRequest } from "../options.js";
import type { SnapshotList, SnapshotManifest, SnapshotRecord, Workspace } from "../wire.js";

/** Snapshots of workspaces, and new workspaces made from them. */
export class Snapshots {
  /** @internal */
  constructor(private readonly http: HttpClient) {}

  /** `POST /v1/workspaces/:id/snapshot`: snapshots a workspace (a running exec is frozen for the copy). */
  async create(workspaceId: string, request: SnapshotCreateRequest = {}, call?: CallOptions): Promise<SnapshotRecord> {
    return this.http.json({
      method: "POST",
      path: `/v1/workspaces/${segment(workspaceId)}/snapshot`,
      body: compact({ name: request.name }),
      call,
    });
  }

  /** `GET /v1/snapshots`: a page of snapshots, optionally of one workspace. */
  async list(params: SnapshotListParams = {}, call?: CallOptions): Promise<SnapshotList> {
    return this.http.json({
      method: "GET",
      path: "/v1/snapshots",
      query: { workspace_id: params.workspaceId, limit: params.limit, offset: params.offset, q: params.q },
      call,
    });
  }

  /** `GET /v1/snapshots/:id`. */
  async get(id: string, call?: CallOptions): Promise<SnapshotRecord> {
    return this.http.json({ method: "GET", path: `/v1/snapshots/${segment(id)}`, call });
  }

  /** `GET /v1/snapshots/:id/manifest`: the snapshot's files with their BLAKE3 hashes. */
  async manifest(id: string, call?: CallOptions): Promise<SnapshotManifest> {
    return this.http.json({ method: "GET", path: `/v1/snapshots/${segment(id)}/manifest`, call });
  }

  /** `DELETE /v1/snapshots/:id`. */
  async delete(id: string, call?: CallOptions): Promise<void> {
    await this.http.json<void>({ method: "DELETE", path: `/v1/snapshots/${segment(id)}`, call });
  }

  /**
   * `POST /v1/workspaces/from-snapshot`: a new workspace holding the
   * snapshot's tree. `parentWorkspaceId` must be the workspace the
   * snapshot was taken of.
   */
  async createWorkspaceFrom(snapshotId: string, request: WorkspaceFromSnapshotRequest, call?: CallOptions): Promise<Workspace> {
    return this.http.json({
      method: "POST",
      path: "/v1/workspaces/from-snapshot",
      body: compact({
        snapshot_id: snapshotId,
        parent_workspace_id: request.parentWorkspaceId,
        label: request.label,
      }),
      call,
    });
  }
}
