"""Settings, read from ``SKYNET_*`` environment variables (pydantic-settings) and CLI flags."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from skynet.config.cluster import ClusterSettings
from skynet.config.messages import MessageSettings
from skynet.private_files import MODELS_DIR_NAME


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "skynet"


Hour = Annotated[int, Field(ge=0, le=23)]


class Settings(ClusterSettings, MessageSettings, BaseSettings):
    """Everything configurable. ``SKYNET_DATA_DIR=/srv/skynet`` sets ``data_dir``, and so on (those of the
    cluster and of SMS and e-mail alerts in :mod:`skynet.config.cluster` and :mod:`skynet.config.messages`)."""

    model_config = SettingsConfigDict(env_prefix="SKYNET_", env_nested_delimiter="__")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Store, thumbnails, index files.")
    model_dir: Path | None = Field(default=None, description="Model files; default <data_dir>/models.")
    index_dir: Path | None = Field(
        default=None,
        description="Face index files; default <data_dir>/index. On a cluster, each API node's own directory (a "
        "local disk, not the shared data directory): nodes that share one overwrite each other's saves.",
    )
    model_pack: str = Field(default="default", description="Model pack whose back-ends analyse images.")

    execution_providers: list[str] = Field(
        default=["auto"],
        description="onnxruntime providers in order of preference; 'auto' = TensorRT, CUDA, then CPU where available.",
    )
    intra_op_threads: int = Field(default=0, ge=0, description="Threads per model session; 0 = all cores.")
    precision: Literal["auto", "int8", "fp32"] = Field(
        default="auto",
        description="Model arithmetic: 'int8' runs the statically quantised variant of every model the pack has "
        "one for (built by skynet models install; only models whose accuracy held within 0.5 points of fp32 "
        "have one), 'fp32' the original float models; 'auto' = int8 when models run on the CPU only, fp32 "
        "with a GPU provider (CUDA / TensorRT).",
    )
    fp32_models: list[str] = Field(
        default_factory=list,
        description='Model files kept in fp32 even when the precision is int8, e.g. ["centerface.onnx"].',
    )
    batch_size: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Camera frames analysed together: each detector runs once over up to this many cameras' "
        "frames (or motion regions). For GPUs (CUDA/TensorRT), e.g. 8; 1 = off, the right choice on CPU, "
        "where a batch costs as much as its frames one by one.",
    )
    batch_wait_ms: float = Field(
        default=10.0,
        ge=0.0,
        le=1000.0,
        description="With batch_size > 1: how long a frame waits for other cameras' frames to join its batch.",
    )

    region_detection: bool = Field(
        default=True,
        description="Camera frames: detect only in the regions that moved or hold a live track (a whole frame "
        "every full_frame_every_s); false = every frame that moved is analysed whole.",
    )
    full_frame_every_s: float = Field(
        default=10.0, gt=0, description="With region detection: analyse a whole frame at least this often."
    )
    region_fine_scale: bool = Field(
        default=True,
        description="With region detection: detect in the regions up to twice as finely as in a whole frame (at most "
        "the frame's own resolution), as long as they hold no more than half the pixels of the detector's view of a "
        "whole frame: small faces and plates are found; false = regions scaled as a whole frame is (cheaper).",
    )
    region_fine_every: int = Field(
        default=2,
        ge=1,
        le=25,
        description="With region_fine_scale: a camera's regions are seen finely on every this-many-th region pass "
        "(and a new region at once); on the others at the whole frame's scale, with only the live tracks seen "
        "finely. 1 = every pass fine (the most CPU).",
    )
    region_settled_every: int = Field(
        default=2,
        ge=1,
        le=25,
        description="With region detection: a region holding only live tracks that are settled (a plate whose reads "
        "agree, a face with its best views) and the motion of their objects is looked at on every this-many-th "
        "region pass; the tracker carries those tracks in between. Arrivals, other motion, tracks not yet settled "
        "and whole-frame passes are always looked at. 1 = every region on every pass (the most CPU).",
    )
    face_detect_long_side: int = Field(default=640, ge=64, description="Frames are scaled to this long side.")
    face_min_score: float = Field(default=0.5, ge=0.0, le=1.0, description="Face detector score threshold.")
    # Which faces become sightings (skynet/tracking/face_gate.py; README "Which faces become sightings").
    face_min_px: float = Field(
        default=40.0,
        ge=0.0,
        description="Faces whose box is smaller than this (short side, frame pixels) are no usable view: "
        "below it camera faces of different people match at the watch-list threshold several times as often.",
    )
    face_min_sharpness: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Views less sharp than this (face quality's sharpness) are not used."
    )
    face_min_frontalness: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Views turned further from the camera than this (face quality's frontalness; 0.5: the nose "
        "half an eye distance off the face's midline) are not used.",
    )
    face_min_exposure: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Views darker, more washed out or flatter than this are not used."
    )
    face_min_track_frames: int = Field(
        default=2, ge=1, description="A face seen in fewer analysed frames than this is no sighting."
    )
    face_min_track_score: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="A face track whose best usable views the detector scored lower than this on average is "
        "no sighting (clothing, backs of heads).",
    )
    plate_detect_long_side: int = Field(
        default=960, ge=64, description="Frames are scaled down to this long side for plate detection."
    )
    plate_min_score: float = Field(default=0.5, ge=0.0, le=1.0, description="Plate detector score threshold.")
    plate_second_look: bool = Field(
        default=True,
        description="clp_det: look again where the first look may have failed: a photo without plates at half "
        "the scale (plates filling much of it; not camera frames), weak candidates enlarged (small plates); "
        "false = off.",
    )
    plate_reader: str | None = Field(
        default=None,
        description="Override the pack's plate reader: 'ppocr' (accurate), 'clp_rec' (fast) or 'easyocr' "
        "(needs the easyocr pack and extra).",
    )
    yolo_input_size: int = Field(
        default=640,
        ge=32,
        multiple_of=32,
        description="Square input size of YOLO detectors whose ONNX export leaves it open (and of .pt models).",
    )
    yolo_min_score: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Score threshold of YOLO plate detectors (ultralytics' default)."
    )
    plate_region: str = Field(default="cn", description="Plate format rules: 'cn' or 'custom'.")
    plate_patterns: list[str] = Field(
        default_factory=list, description="Regular expressions of valid plates when plate_region='custom'."
    )

    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Images above this many pixels are refused before decoding."
    )
    max_image_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Largest image accepted; the routes that take images accept request bodies of this plus "
        "max_json_bytes.",
    )
    max_json_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body of every route that takes no files; larger ones are answered 413 "
        "before they are read.",
    )

    archive_name_pattern: str = Field(
        default="%Y%m%d_%H%M%S",
        min_length=2,
        description="Where an archive file has no creation time, its start time from its name: a strptime "
        "format of %Y %m %d %H %M %S and optionally %z (without %z: local time), found anywhere in the name.",
    )
    index_refresh_s: float = Field(
        default=2.0,
        gt=0,
        description="How often a server indexes faces that another process (a CLI re-index) stored.",
    )

    retention_days: float | None = Field(
        default=None, gt=0, description="Delete sightings older than this many days automatically; unset = keep."
    )
    database_url: str | None = Field(
        default=None,
        repr=False,
        description="PostgreSQL URL (postgresql://user:password@host/db) for the store; unset = SQLite in data_dir. "
        "A secret: never logged.",
    )
    retention_interval_s: float = Field(default=3600.0, gt=0, description="How often the retention policy runs.")
    media_url: str | None = Field(
        default=None,
        description="Media (thumbnails, context frames) in an S3-compatible object store: s3://bucket[/prefix] "
        "(extra skynet[s3]); unset = files in data_dir, which a cluster's nodes share (docs/cluster.md).",
    )
    media_endpoint: str = Field(
        default="https://s3.amazonaws.com",
        description="The object store's address for media_url: http(s)://host[:port].",
    )
    media_region: str = Field(
        default="us-east-1", description="The object store's region for media_url (the bucket's region on AWS)."
    )
    media_access_key: str | None = Field(default=None, repr=False, description="Access key for media_url. A secret.")
    media_secret_key: str | None = Field(default=None, repr=False, description="Secret key for media_url. A secret.")

    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins per client address and per user name before POST /api/login "
        "answers 429 (API tokens keep working).",
    )
    login_window_s: float = Field(default=60.0, gt=0, description="The window of login_max_failures, in seconds.")
    token_max_failures: int = Field(
        default=20,
        ge=1,
        description="Invalid API tokens or stream tickets per client address before its unverified requests "
        "answer 429 (tokens it used in the last seconds keep working).",
    )
    token_window_s: float = Field(default=60.0, gt=0, description="The window of token_max_failures, in seconds.")
    media_link_ttl_s: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="How long the signed links to sightings' thumbnails and context frames that the API hands out "
        "stay valid, in seconds.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (comma-separated: 10.0.0.2,10.1.0.0/16) of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto headers are believed; empty = none, the client is the peer.",
    )
    search_threads: int = Field(
        default=0,
        ge=0,
        description="Face searches and trajectories the API runs at once (others wait their turn); 0 = one per "
        "core. More than the cores only adds contention for Python's GIL.",
    )

    reason_min_characters: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Letters or digits every reason (searches, exports, trajectories, watch-list, camera and user "
        "changes, jobs, alert acknowledgements) needs; '...' or white space is refused.",
    )
    reason_case_pattern: str | None = Field(
        default=None,
        description="A regular expression every reason must contain a match of, e.g. a case number "
        r"'\b\d{4}-\d{1,6}\b' (2026-17); unset = any reason with enough content.",
    )
    archive_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories (comma-separated) whose video files re-index jobs may read; paths outside them "
        "(symbolic links resolved) are refused. Always allowed: <data_dir>/archive.",
    )

    watchlist_min_similarity: float = Field(
        default=0.924,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity a face must reach to match a watch-list entry (entries may override), "
        "and the default of face trajectories. Both compare one face with many (1:N), so it is set at a false "
        "match rate of 1e-4 per pair of different people for camera-quality faces: photos of the DEV faces "
        "against camera views of other photos (65-130 px faces, blur sigma <= 1 px, JPEG 60-85; "
        "benchmarks/eval_faces.py --video 6), where 0.924 keeps 94 % of same-person pairs. (On photos alone "
        "0.9 was already 1 in 1000; on camera views 0.9 is 1 in 110.)",
    )
    face_possible_similarity: float = Field(
        default=0.899,
        ge=-1.0,
        le=1.0,
        description="Face search results at least this similar, but under watchlist_min_similarity, are shown as "
        "'possible' (below it: 'unlikely'): a false match rate of 1e-2 per pair of different people on camera "
        "views of the DEV faces (benchmarks/eval_faces.py --video 6), where 99 % of same-person pairs reach it. "
        "Searches show results under watchlist_min_similarity only on request, marked as below the threshold.",
    )
    alert_cooldown_s: float = Field(
        default=0.0,
        ge=0.0,
        le=7 * 86400.0,
        description="A watch-list entry's next pass at a camera this soon (seconds) after the pass it last alerted "
        "on there is folded into that alert instead of raising another (entries may set their own); 0 = every "
        "pass alerts. The sightings of one pass never raise more than one alert.",
    )
    identity_min_similarity: float = Field(
        default=0.924,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity at which an unknown face joins an identity (person #n) of earlier faces: "
        "the watch-list's calibrated 1:N threshold (false match rate 1e-4 per pair on camera-quality faces).",
    )

    # The investigative analyses (skynet.services.analytics): each one's span, and what counts as a clone.
    analysis_max_span_days: float = Field(
        default=31.0, gt=0, description="The longest time range an analysis may cover (days)."
    )
    analysis_max_cameras: int = Field(default=500, ge=1, description="The most cameras an analysis's area may hold.")
    analysis_max_places: int = Field(default=10, ge=2, description="The most places of one intersection analysis.")
    analysis_max_window_s: float = Field(
        default=600.0, gt=0, description="The widest window of a companion analysis (seconds either side of a pass)."
    )
    analysis_max_speed_kmh: float = Field(
        default=150.0,
        gt=0,
        description="A plate that moves between two cameras faster than this is a cloned-plate candidate (km/h).",
    )
    analysis_min_distance_m: float = Field(
        default=50.0,
        ge=0,
        description="Moves shorter than this never make a cloned-plate candidate (camera positions are not exact).",
    )
    analysis_night_hours: tuple[Hour, Hour] = Field(
        default=(22, 6),
        description="Night for the unusual-hours analysis: [start, end) local hours (alert_time_zone), may wrap.",
    )
    mqtt_url: str | None = Field(
        default=None, repr=False, description="MQTT broker for alerts, mqtt://[user:password@]host[:port]; unset = off."
    )
    mqtt_topic_prefix: str = Field(default="skynet/alerts", description="Alerts go to <prefix>/<camera id>.")
    webhooks: list[dict[str, str]] = Field(
        default_factory=list,
        repr=False,
        description='Alert webhooks: [{"name": "...", "url": "https://...", "secret": "..."}]; bodies are signed '
        "with HMAC-SHA256 of the secret.",
    )

    camera_networks: list[str] = Field(
        default_factory=list,
        description="Where network cameras may be: CIDR networks (192.168.10.0/24, 10.0.0.7) and host names "
        "(cam7.example.org, *.cams.example.org). Empty (the default): no network camera until an admin lists "
        "the camera network. Loopback and link-local addresses need a network inside their range (127.0.0.1/32).",
    )
    camera_schemes: list[str] = Field(
        default=["rtsp", "rtsps", "http", "https"], description="URL schemes network cameras may use."
    )
    camera_file_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories whose video files may be cameras (played in a loop); the demo directory always is.",
    )
    camera_devices: bool = Field(default=False, description="Allow local capture devices (/dev/videoN) as cameras.")

    @property
    def demo_dir(self) -> Path:
        """Where the demo camera's generated clip lives (always allowed as a camera source)."""
        return self.data_dir / "demo"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        """A comma-separated string or a list of IP addresses or networks, each checked."""
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            return items
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return items

    @field_validator("reason_case_pattern")
    @classmethod
    def _case_pattern(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        return value or None

    @field_validator("archive_roots", mode="before")
    @classmethod
    def _archive_roots(cls, value: object) -> object:
        """A comma-separated string or a list of directories."""
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @property
    def archive_dir(self) -> Path:
        """The data directory's own archive root (always allowed to re-index jobs)."""
        return self.data_dir / "archive"

    @property
    def models_path(self) -> Path:
        """Directory the model packs live in."""
        return self.model_dir if self.model_dir is not None else self.data_dir / MODELS_DIR_NAME
