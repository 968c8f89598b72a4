"""What each service does in a live ``fl-migration`` slot.

Edge server s (of S modeled ones) lives in edge process ``s % R`` (R = edge replicas). Per
slot t (the paper's steps 1-6):

1. controller -> cloud ``RoundStart``: the cloud's edge-server twins give the slot state (users'
   positions, data sizes, EMDs, where each twin is: the same seeded streams as world.py);
   the cloud asks the controller for (kappa^t, gamma^t) with a ``DecisionRequest``.
2. controller -> cloud ``Decision``: the cloud sends every edge process the ``SlotPlan`` with
   the global model omega^{t-1} as payload, and the users (the sensor service) an
   ``UploadRequest``.
3. edge (step 1, migration): every twin whose new server lives in another process is sent
   there as a ``TwinMigration``: base twin data, the kept historical samples
   (gamma_u D_{u,t-1}, real arrays) and the personalized weights, checksummed.
4. sensor (step 2): the users upload D_{u,t} (their non-i.i.d. digits samples, real arrays)
   to the edge process hosting their twin, one checksummed ``UserData`` per process.
5. edge (step 3), once the incoming twins and the uploads are in: each hosted server trains
   omega^{t-1} on D_{s,t} = its twins' new data plus kept history for E_s epochs and sends a
   ``ModelUpdate`` (version, sample count, SHA-256; payload: the weights).
6. cloud (steps 4-5): an update is accepted only for the current slot, trained from the
   current global version, with a payload matching its SHA-256, once per server; anything
   else is rejected and recorded (Redis list ``tb:{<run>}:cloud:rejected``, the server twin). When
   every expected server is in, eq. (4) aggregates and ``GlobalModel`` goes out.
7. edge (step 6): every twin fine-tunes omega^t for E_us epochs on its own data; its test
   accuracy is measured; ``EdgeSlotDone`` to the cloud.
8. cloud: updates a twin per user (server, data sizes, EMD, model version, measured accuracy
   beside the predicted rho) and per edge server, then reports the slot to the controller:
   the modeled metrics of world.py plus what was measured (accuracy, bytes moved, the
   migration energy of eq. 13 charged for the bits that really moved, phase wall times).

Crash safety: every piece of authoritative state is in Redis, written through the handler's
``Effects``, so it commits in the same MULTI/EXEC as the message's ack (``twinbed.bus``): a
process killed before EXEC replays the batch from its pending entries and reaches the same
state; one killed after it lost nothing. ``ctx.cache`` is a read-through mirror (reloaded
after a restart) plus what is derived from the seed (instance, slot states, digits). Edge
process i owns ``tb:{<run>}:edge:<i>:*`` (its user twins, slot, uploads); the cloud owns
``tb:{<run>}:cloud:*`` (association history, global model and version, the slot with its
accepted updates and edge reports, rejections). Training is seeded per (slot, process), so a
replayed handler re-publishes the same weights; an identical update seen twice is ignored.
At slot 0 each twin is created on its first server with a previous slot's data already in it.
"""

from __future__ import annotations

from twinbed.contract import Roles
from twinbed.messages import Decision, RoundStart
from twinbed.scenarios.fl_migration.cloud import (
    cloud_decision,
    cloud_done,
    cloud_round_start,
    cloud_update,
)
from twinbed.scenarios.fl_migration.contract import Association
from twinbed.scenarios.fl_migration.edge import (
    edge_global,
    edge_local_train,
    edge_migration,
    edge_plan,
    edge_user_data,
)
from twinbed.scenarios.fl_migration.messages import (
    EdgeSlotDone,
    GlobalModel,
    LocalTrain,
    ModelUpdate,
    SlotPlan,
    TwinMigration,
    UploadRequest,
    UserData,
)
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.users import sensor_upload

__all__ = ["ROLES"]

ROLES: Roles[FlMigrationParams, Association] = Roles(Association)
ROLES.on("cloud", RoundStart, cloud_round_start)
# the cloud's Decision handler reads the message's solve_s too (not only the action)
ROLES.on("cloud", Decision, cloud_decision)
ROLES.on("cloud", ModelUpdate, cloud_update)
ROLES.on("cloud", EdgeSlotDone, cloud_done)
ROLES.on("sensor", UploadRequest, sensor_upload)
ROLES.on("edge", SlotPlan, edge_plan)
ROLES.on("edge", TwinMigration, edge_migration)
ROLES.on("edge", LocalTrain, edge_local_train)
ROLES.on("edge", UserData, edge_user_data)
ROLES.on("edge", GlobalModel, edge_global)
