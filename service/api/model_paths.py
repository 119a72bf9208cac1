"""Where `POST /v1/model/reload` may read a bundle: a folder under the configured models root, nowhere else."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from service.api.errors import ApiProblem

FIELD = "model_dir"


def _reject(value: str, rule: str, zh: str, en: str) -> ApiProblem:
    shown = value.replace("\x00", "\\0")[:300]
    return ApiProblem(422, f"model_dir {en}", [{"path": f"/{FIELD}", "field": FIELD, "rule": rule, "value": shown,
                                                "problem": f"model_dir {zh} / model_dir {en}"}])


def resolve_model_dir(root: Path, requested: str) -> Path:
    """`requested` (relative to `root`) as a real path inside `root`, or a 422 naming the rule it breaks:
    no NUL byte, not absolute, no `..`, and no symlink that leads out of the root."""
    if "\x00" in requested:
        raise _reject(requested, "no_nul", "不得包含NUL字节", "must not contain a NUL byte")
    try:
        requested.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no file can have that name
        raise _reject(requested.encode("utf-8", "replace").decode(), "encoding", "不是有效的UTF-8文本",
                      "is not valid UTF-8 text") from None
    if PurePosixPath(requested).is_absolute() or PureWindowsPath(requested).drive or requested.startswith("\\"):
        raise _reject(requested, "relative", "须为模型根目录下的相对路径", "must be a path relative to the models root")
    if ".." in PurePosixPath(requested.replace("\\", "/")).parts:
        raise _reject(requested, "no_dotdot", "不得包含“..”", "must not contain '..'")
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, requested))
    if os.path.commonpath([real_root, target]) != real_root:
        raise _reject(requested, "inside_models_root", "经符号链接指向模型根目录之外",
                      "leads outside the models root (through a symlink)")
    return Path(target)
