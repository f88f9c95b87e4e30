#!/usr/bin/python
"""Several files with their contents, owners and modes in one module run on the host.

The roles render each daemon's configuration files on the controller (the template
lookup) and write them with one task: a re-run that changes nothing then costs one
remote round trip per host for all of them, where a template task per file costs two
(a stat and a file call) each. Check mode and --diff work as for ansible.builtin.copy.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: infinity_files
short_description: Write several files (content, owner, group, mode) in one run
description:
  - Writes each file atomically whose content differs and sets its owner, group and mode;
    reports changed when any file changed. Supports check mode and diff mode.
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      dest: {description: Absolute path on the host., type: path, required: true}
      content: {description: The whole content of the file., type: str, required: true}
      owner: {description: Owner name., type: str, default: root}
      group: {description: Group name., type: str, default: root}
      mode: {description: Octal mode as a string, such as "0644"., type: str, required: true}
author: Infinity
"""

EXAMPLES = r"""
- name: Write the agent's configuration
  infinity_files:
    files:
      - dest: /etc/mesos/agent.env
        content: "{{ lookup('ansible.builtin.template', 'agent.env.j2') }}"
        mode: "0640"
"""

RETURN = r"""
changed_files:
  description: The paths that changed (or would, in check mode).
  type: list
  elements: str
  returned: always
"""

import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str", "required": True},
                },
            }
        },
        supports_check_mode=True,
    )
    changed_files: list[str] = []
    diffs: list[dict[str, str]] = []
    for spec in module.params["files"]:
        dest, want = spec["dest"], spec["content"].encode()
        have = _read(dest)
        wanted = {"owner": spec["owner"], "group": spec["group"], "mode": spec["mode"]}
        if have != want:
            changed_files.append(dest)
            if module._diff:
                diffs.append(
                    {
                        "before_header": dest if have is not None else "(absent)",
                        "after_header": dest,
                        "before": (have or b"").decode(errors="replace"),
                        "after": spec["content"],
                    }
                )
            if not module.check_mode:
                # written beside the destination with its owner and mode, then renamed
                # over it: never half a file, never a secret readable for a moment
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".infinity-")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(want)
                    module.set_fs_attributes_if_different(
                        module.load_file_common_arguments(wanted, path=tmp), True
                    )
                    os.replace(tmp, dest)
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
        elif module.set_fs_attributes_if_different(
            module.load_file_common_arguments(wanted, path=dest), False
        ):
            changed_files.append(dest)
    module.exit_json(changed=bool(changed_files), changed_files=changed_files, diff=diffs)


if __name__ == "__main__":
    main()
