// SPDX-License-Identifier: GPL-3.0-or-later
fn main() {
    gst_plugin_version_helper::info()
}
