# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only. Keep in step with PhotoPolicyOptions in
# plugins/module_utils/module/_photo_policy_options.py.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  convert:
    description:
      - Convert images the service does not take (other formats, over 4 MB) to a JPEG that fits, instead of failing.
      - A PNG is converted to JPEG too (transparency on white), since the service documents only JPEG. Without
        Pillow, or with O(convert=false), a PNG of at most 4 MB is sent as C(image/png) with a warning that the
        service may refuse it.
      - Needs Pillow only when a conversion is needed. The same file always converts to the same bytes, so
        reruns stay idempotent. The comparison judges pixels, so a user whose photo was stored from an earlier PNG
        upload of the same image is not rewritten because the module now sends JPEG.
      - Turning a camera photo upright is a conversion too. A JPEG whose EXIF Orientation is not 1 is decoded, turned
        as its EXIF says and sent as a new JPEG, so that it is stored the way people see it (the service shows the
        pixels as they are). Without Pillow such a JPEG is refused, naming Pillow; with O(convert=false) it is sent
        as it is, with a warning that it will appear turned.
      - A JPEG with Orientation 1, or without EXIF, within 4 MB and needing no O(crop) or O(max_dimension), is sent
        exactly as it is, EXIF metadata (a GPS location, for example) included. A converted image carries no EXIF.
    type: bool
    default: true
  crop:
    description:
      - How a photo that is not square is cut before it is compared and sent. Microsoft 365 shows photos as circles
        in square sizes, and each app crops a photo that is not square its own way.
      - V(none) sends the whole picture (what 1.0.0 did).
      - V(square) takes the largest square in the centre of the upright picture.
      - V(face) takes a square centred on the largest face OpenCV finds, about 2.2 face widths wide (head and a
        little of the shoulders), moved inside the picture where the face is near an edge. Needs the Python package
        C(opencv-python-headless>=4.8,<5), whose wheel ships the face model (OpenCV 5 dropped it). Without a usable
        OpenCV, or when no face is found, the photo is cropped as with V(square), with a warning that says why.
      - V(square) and V(face) re-encode every photo, so they need Pillow and O(convert=true); otherwise the task
        fails before any request. A crop is deterministic (the same file always gives the same bytes), so reruns
        stay idempotent.
    type: str
    choices: [none, square, face]
    default: none
    version_added: 1.1.0
  max_dimension:
    description:
      - The longest side, in pixels, of the photo that is sent; a larger picture is scaled down (after O(crop)),
        never up. Needs Pillow and O(convert=true) when a picture is larger.
      - Unset, the picture keeps its size (up to what fits in 4 MB). V(648) is recommended, the largest size
        Microsoft 365 shows, which keeps uploads small without any visible loss.
    type: int
    version_added: 1.1.0
  min_dimension:
    description:
      - The smallest accepted shorter side, in pixels, of the photo as it would be sent (after O(crop) and
        O(max_dimension)). A smaller photo fails before anything is written, naming its size.
      - Microsoft 365 shows photos from 48 px, and the service refuses tiny ones (C(ValidationWidthTooSmall)).
        V(0) turns the check off.
    type: int
    default: 48
    version_added: 1.1.0
  compare:
    description:
      - How to decide whether the user's current photo already is the wanted source image.
      - V(sha256) uploads unless the bytes the service returns are exactly the bytes of the source image. The service
        re-encodes stored photos, so against a real tenant this usually uploads on every run.
      - V(pixels) decodes both images, scales them to the same small size and treats them as equal when the mean
        difference per colour channel is at most O(pixel_tolerance). Needs Pillow.
      - V(auto) treats equal bytes as equal, and otherwise compares pixels when Pillow is installed; without
        Pillow it behaves like V(sha256) and warns.
      - When pixels are compared, a current photo that cannot be decoded, is truncated, or declares more than 50
        million pixels counts as different and is replaced.
    type: str
    choices: [auto, sha256, pixels]
    default: auto
  pixel_tolerance:
    description:
      - Largest mean difference per colour channel (0 to 255) at which two images count as the same photo with
        O(compare=pixels) or O(compare=auto).
      - The default was measured on natural and synthetic photos as above what re-encoding or downscaling the same
        photo changes (at most 2.9) and far below the difference between two different photos (16 and more);
        see the idempotency guide.
    type: float
    default: 4.0
  only_if_missing:
    description:
      - Set the photo only for a user who has none; an existing photo, even a different one, is left alone.
      - Useful for a default picture that must never replace one the user chose.
    type: bool
    default: false
  backup_dir:
    description:
      - Directory on the host that runs the module where the current photo is saved before it is replaced or
        removed. Created if missing (mode 0700).
      - Files are named C(<user>.<UTC timestamp>.<ext>), mode 0600, and never overwrite a file or write through a
        symbolic link. Characters of the user that could leave the directory (or hide the file) are replaced by
        C(_); whenever the name had to change that way, or was cut to 120 characters, C(~) and 12 hex digits of
        the SHA-256 of the exact user key are added, so two users never share a name.
      - It is checked before the first request; a file in the way, or a directory that is not writable, is refused.
      - When the upload or removal then succeeds and something after it fails, the task still reports
        C(changed=true) and returns the path of the backup.
    type: path
"""
