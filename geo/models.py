"""Administrative boundaries, the workspaces that use them, and import runs.

The models hold data and invariants only. Reads live in ``geo.lookup``; the only
writer of boundaries is ``geo.importing.load``.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import CheckConstraint, Q
from django.db.models.functions import Upper

PATH_SEPARATOR = " > "
# The schemes of ``Boundary.codes``, in the order exports list them.
CODE_SCHEMES = ("pcode", "iso3166_2", "gid", "shape_id", "wikidata", "ref", "hasc")


class Level(models.IntegerChoices):
    """Administrative levels, as RapidPro numbers them."""

    COUNTRY = 0, "country"
    STATE = 1, "state"
    DISTRICT = 2, "district"
    WARD = 3, "ward"


class GeometrySource(models.TextChoices):
    """Which source file a boundary's full geometry came from."""

    FULL = "full", "full resolution"
    SIMPLIFIED = "simplified", "source's simplified file only"
    NONE = "none", "no geometry"


class BoundaryManager(models.Manager["Boundary"]):
    """Default manager: never loads the (large) geometry columns unless asked."""

    def get_queryset(self) -> models.QuerySet[Boundary]:
        """Return boundaries with both geometry columns deferred."""
        return super().get_queryset().defer("geometry", "simplified_geometry")


class Boundary(models.Model):
    """One administrative boundary: a country, state, district or ward.

    ``osm_id`` is the stable key, kept exactly as the source spells it
    (``R171496``, ``W123``, ``171496``, GADM-style ``RWA.1_1``). ``path`` is the
    denormalised name chain RapidPro stores in contact fields
    (``Rwanda > Kigali City > Gasabo``).
    """

    osm_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    name_en = models.CharField(max_length=255, blank=True, default="")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The level-0 ancestor; a country points at itself so "everything of a
    # country" is one indexed equality.
    country = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    path = models.TextField()
    # Names in other languages, by language code (``{"fr": "Ville de Kigali"}``),
    # and variant names of no particular language (GADM's ``VARNAME_n``).
    names = models.JSONField(default=dict, blank=True)
    other_names = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    # Every code the source carries, by scheme: ``pcode``, ``iso3166_2``, ``gid``
    # (GADM), ``shape_id`` (geoBoundaries), ``wikidata``, ``ref``.
    codes = models.JSONField(default=dict, blank=True)

    # History: an import never deletes a boundary. One that leaves its source is
    # retired (kept, with the run and time) and linked to its successors
    # (``BoundaryLink``); ``valid_from`` is when the current state (name,
    # parent, key, geometry) began, earlier states are ``BoundaryVersion`` rows.
    valid_from = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Full resolution as imported (repaired, counter-clockwise exteriors).
    geometry = models.MultiPolygonField(srid=4326, null=True, blank=True)
    # Simplified with its siblings as one coverage, so neighbours stay joined.
    simplified_geometry = models.MultiPolygonField(srid=4326, null=True, blank=True)
    geometry_source = models.CharField(
        max_length=16, choices=GeometrySource.choices, default=GeometrySource.NONE
    )
    # Bounding box in degrees; west > east when it crosses the antimeridian.
    bbox_west = models.FloatField(null=True, blank=True)
    bbox_south = models.FloatField(null=True, blank=True)
    bbox_east = models.FloatField(null=True, blank=True)
    bbox_north = models.FloatField(null=True, blank=True)
    area_km2 = models.FloatField(null=True, blank=True)
    vertex_count = models.PositiveIntegerField(default=0)
    # How simplified_geometry was made (method and tolerance); a run with
    # another signature simplifies again even when the source is unchanged.
    simplification = models.CharField(max_length=64, blank=True, default="")
    # Digest of the source geometry as read; an equal digest on re-import
    # skips parsing, repair and simplification of that geometry.
    geometry_digest = models.CharField(max_length=64, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_import = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[BoundaryManager] = BoundaryManager()
    with_geometry: ClassVar[models.Manager[Boundary]] = models.Manager()

    class Meta:
        constraints = [
            CheckConstraint(condition=Q(level__gte=0, level__lte=3), name="boundary_level_range"),
            CheckConstraint(
                condition=Q(level=0, parent__isnull=True) | Q(level__gt=0, parent__isnull=False),
                name="boundary_parent_matches_level",
            ),
        ]
        indexes = [
            models.Index(fields=["country", "level"], name="boundary_country_level"),
            models.Index(fields=["path"], name="boundary_path"),
            models.Index(Upper("name"), name="boundary_upper_name"),
            models.Index(
                fields=["level"], condition=Q(retired_at__isnull=True), name="boundary_current"
            ),
        ]
        base_manager_name = "with_geometry"
        verbose_name_plural = "boundaries"

    def __str__(self) -> str:
        return f"{self.path} ({self.osm_id})"


class BoundaryVersion(models.Model):
    """An earlier state of a boundary, valid from ``valid_from`` until ``valid_to``.

    Written by the import that changed the boundary (renamed, moved, re-keyed,
    geometry changed), so answers ``as_of`` a past day and values stored under
    an old name, path or key can still be found.
    """

    boundary = models.ForeignKey(Boundary, on_delete=models.CASCADE, related_name="versions")
    osm_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    name_en = models.CharField(max_length=255, blank=True, default="")
    names = models.JSONField(default=dict, blank=True)
    codes = models.JSONField(default=dict, blank=True)
    # Variant names; NULL in versions written before they were kept (today's stand in).
    other_names = ArrayField(models.CharField(max_length=255), null=True, blank=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    parent = models.ForeignKey(
        Boundary, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    path = models.TextField()
    geometry = models.MultiPolygonField(srid=4326, null=True, blank=True)
    simplified_geometry = models.MultiPolygonField(srid=4326, null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField()
    # The import that ended this state.
    ended_by = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["boundary", "valid_to"], name="version_boundary_time"),
            models.Index(fields=["osm_id"], name="version_osm_id"),
            models.Index(fields=["path"], name="version_path"),
            models.Index(fields=["valid_to"], name="version_valid_to"),
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.osm_id}) until {self.valid_to:%Y-%m-%d}"


class Succession(models.TextChoices):
    """How a boundary changed in an import, as ``resolve`` reports it."""

    RENAMED = "renamed"
    MOVED = "moved"  # another parent
    REKEYED = "rekeyed"  # another osm_id or code for the same place
    SPLIT = "split"
    MERGED = "merged"
    RETIRED = "retired"  # left its source with no successor


class BoundaryLink(models.Model):
    """``predecessor`` changed in ``import_run``; ``successor`` took ``share`` of its area.

    A renamed, moved or re-keyed boundary is its own successor (share 1).
    A retired one links to every current boundary of its level that took part
    of its area, with the share each took (a split has several, a merge shares
    its successor with other predecessors).
    """

    predecessor = models.ForeignKey(
        Boundary, on_delete=models.CASCADE, related_name="successor_links"
    )
    successor = models.ForeignKey(
        Boundary, null=True, blank=True, on_delete=models.CASCADE, related_name="predecessor_links"
    )
    import_run = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Succession.choices)
    share = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["predecessor", "-created_at"], name="link_predecessor")]

    def __str__(self) -> str:
        return f"{self.predecessor_id} {self.kind} → {self.successor_id} ({self.share:.0%})"


class ChangeKind(models.TextChoices):
    """What an import did to a boundary, as ``/api/v1/changes`` lists it."""

    ADDED = "added"
    RENAMED = "renamed"
    MOVED = "moved"
    REKEYED = "rekeyed"
    GEOMETRY = "geometry"
    SPLIT = "split"
    MERGED = "merged"
    RETIRED = "retired"
    RESTORED = "restored"


class BoundaryChange(models.Model):
    """One change an import made to one boundary: the feed behind ``/api/v1/changes``.

    Written by the import, in the same transaction as the change itself, and
    never changed after. ``osm_id`` and ``path`` are the boundary's after the
    change (a retired one's last); ``was`` holds what the change replaced
    (``{"path": …, "name": …, "osm_id": …}``, whichever applies). Successors of
    a split, merged or retired boundary are its ``BoundaryLink`` rows of the
    same run.
    """

    import_run = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    boundary = models.ForeignKey(Boundary, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    osm_id = models.CharField(max_length=64)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    path = models.TextField()
    was = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "id"], name="change_time"),
            models.Index(fields=["import_run", "id"], name="change_run"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.path} ({self.osm_id})"


class BoundaryShape(models.Model):
    """A boundary's outline at one zoom band, in Web Mercator, ready for vector tiles.

    Each band is a coverage simplification of the boundary's whole level in
    its country, so neighbours share their borders at every zoom.
    """

    boundary = models.ForeignKey(Boundary, on_delete=models.CASCADE, related_name="shapes")
    band = models.PositiveSmallIntegerField()
    geometry = models.MultiPolygonField(srid=3857)
    vertex_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["boundary", "band"], name="shape_unique_band"),
        ]
        indexes = [models.Index(fields=["band", "boundary"], name="shape_band_boundary")]

    def __str__(self) -> str:
        return f"{self.boundary_id} band {self.band}"


class Workspace(models.Model):
    """A tenant: its own aliases and tokens, optionally scoped to one country."""

    name = models.CharField(max_length=128, unique=True)
    country = models.ForeignKey(
        Boundary,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"level": Level.COUNTRY, "retired_at__isnull": True},
    )
    # The language boundary names are shown in (``fr``); empty: the source's own name.
    name_language = models.CharField(max_length=16, blank=True, default="")
    # Bumped on every alias change, so every worker rebuilds its alias index.
    aliases_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TokenScope(models.TextChoices):
    """What an API token may do."""

    READ = "read", "read-only"  # lookups, listings, counts: what a flow needs
    WRITE = "write", "read-write"  # also edits aliases


class ApiToken(models.Model):
    """A secret that lets an integration act for a workspace.

    Only a SHA-256 digest of the token is stored; the token itself is shown
    once, when it is created. A revoked token keeps its row (the audit log and
    the people page name it) and never opens anything again.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=128, blank=True, default="")
    prefix = models.CharField(max_length=8)
    key_digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.workspace})"


class OperatorToken(models.Model):
    """A secret that lets an operator (a staff user) run imports through the API.

    Boundaries are shared by every workspace, so importing is not a workspace
    right: these tokens belong to a person, and open only the import endpoints.
    They stop working when the person is no longer active staff. As with
    ``ApiToken``, only a SHA-256 digest is stored.
    """

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="operator_tokens")
    name = models.CharField(max_length=128, blank=True, default="")
    prefix = models.CharField(max_length=8)
    key_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.prefix}… (operator {self.user})"


class Role(models.TextChoices):
    """What a person may do in a workspace."""

    ADMIN = "admin"  # also manages people and tokens
    EDITOR = "editor"  # edits aliases
    VIEWER = "viewer"  # looks


class Membership(models.Model):
    """A person's role in a workspace."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class BoundaryAlias(models.Model):
    """Another name a workspace uses for a boundary (``Kigari`` for Kigali City)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="aliases")
    # PROTECT: an import must never drop aliases silently; it asks for a flag.
    boundary = models.ForeignKey(Boundary, on_delete=models.PROTECT, related_name="aliases")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "boundary", "name"], name="alias_unique_per_boundary"
            ),
        ]
        indexes = [models.Index(Upper("name"), name="alias_upper_name")]
        verbose_name_plural = "boundary aliases"

    def __str__(self) -> str:
        return f"{self.name} → {self.boundary_id}"


class ParsedFileRecord(models.Model):
    """What an import read from a file, keyed by the file's content.

    A later import of byte-identical content rebuilds the file's features
    from here instead of parsing megabytes of coordinates again, provided
    every geometry digest still matches the stored boundaries.
    """

    content_digest = models.CharField(max_length=64)
    level = models.PositiveSmallIntegerField()
    simplified = models.BooleanField()
    label = models.TextField()
    features = models.JSONField()
    quirks = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_digest", "level", "simplified"], name="parsed_file_unique_content"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.content_digest[:12]})"


class ImportStatus(models.TextChoices):
    """Outcome of an import run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    DRY_RUN = "dry_run", "dry run"
    FAILED = "failed"
    ABANDONED = "abandoned"


class ImportRun(models.Model):
    """The record of one ``import_geojson`` run, kept whatever its outcome.

    It is written outside the import's own transaction, so its progress fields
    can be read while the import runs and its outcome survives a rollback.
    """

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.RUNNING
    )
    options = models.JSONField(default=dict)
    files = models.JSONField(default=list)
    counts = models.JSONField(default=dict)
    diff = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    progress_stage = models.CharField(max_length=32, blank=True, default="")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    pid = models.PositiveIntegerField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.status})"


class ImportUpload(models.Model):
    """A file uploaded for an import job, kept in PostgreSQL.

    PostgreSQL rather than a disk or an object store: every node (web
    frontends, workers on other machines) reads it through the connection it
    already has, it is replicated to the standby and backed up with the rest,
    and it is committed in the same transaction as the job that needs it. The
    bytes are split in chunks (``ImportUploadChunk``) so neither side ever holds
    a whole 200 MB value in memory.

    The bytes are deleted ``MIPAKA_UPLOAD_RETENTION_DAYS`` after the upload,
    once no job waits for them (``geo.importing.jobs.delete_old_uploads``);
    the row stays, with its name, size and digest: what was imported, from what.
    """

    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its chunks were deleted; a job can no longer read it.
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.size:,} bytes)"


class ImportUploadChunk(models.Model):
    """One piece of an uploaded file, in order."""

    upload = models.ForeignKey(ImportUpload, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "position"], name="upload_chunk_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.upload_id} chunk {self.position}"


class JobKind(models.TextChoices):
    """Where an import job's files come from."""

    UPLOAD = "upload"
    DOWNLOAD = "download"


class JobStatus(models.TextChoices):
    """Where an import job is."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ImportJob(models.Model):
    """An import asked for through the API, run by a Celery worker.

    The job is the request and its state; the import itself is recorded, as
    every import is, by an ``ImportRun`` (progress, counts, diff), linked here.
    ``attempts`` counts the deliveries that started it: a job whose worker
    died is delivered again, and one that ended its worker twice is failed.
    """

    requested_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    upload = models.ForeignKey(
        ImportUpload, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # OSM relation ids (``R192796``) of the countries a download job fetches.
    countries = models.JSONField(default=list, blank=True)
    dry_run = models.BooleanField(default=False)
    # The dry run this job applies, when it was made by "apply".
    applies = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="applied_by"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    import_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # Progress of the steps before the import starts (downloads).
    progress = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            CheckConstraint(
                condition=Q(kind=JobKind.UPLOAD, upload__isnull=False)
                | Q(kind=JobKind.DOWNLOAD, upload__isnull=True),
                name="import_job_input_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["-created_at"], name="import_job_recent")]

    def __str__(self) -> str:
        return f"import job #{self.pk} ({self.kind}, {self.status})"


class AuditAction(models.TextChoices):
    """What an audit event records."""

    ALIASES_SET = "aliases.set", "aliases changed"
    IMPORT = "import", "import"
    WORKSPACE_CREATED = "workspace.created", "workspace created"
    MEMBER_ADDED = "member.added", "person added"
    MEMBER_ROLE = "member.role", "role changed"
    MEMBER_REMOVED = "member.removed", "person removed"
    TOKEN_ISSUED = "token.issued", "token issued"
    TOKEN_REVOKED = "token.revoked", "token revoked"
    LANGUAGE_SET = "language.set", "name language changed"


class AuditEvent(models.Model):
    """Who did what, when, in which workspace: written by ``geo.audit`` only, never changed.

    The actor and workspace are kept as text too, so an event still says who
    and where after the account or the workspace is gone.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    workspace_name = models.CharField(max_length=128, blank=True, default="")
    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=255)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target = models.CharField(max_length=255, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_workspace_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor}: {self.action} {self.target}"
