// SPDX-License-Identifier: GPL-3.0-or-later
//! Safe wrapper over libespeak-ng (placeholder until the binding lands).
