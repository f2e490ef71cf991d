#!/usr/bin/env bash
# `ctv info` as a user runs it: what it shows of a fixture (values that nibabel gives for the
# same file: tests/data/nifti/expected.json), and one error line with exit 1 for files it
# cannot read, naming each.
# usage: info.sh <path-to-ctv> <tests/data>
set -u
ctv=$1
data=$2/nifti
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.bash"

# A mask stored with axes P, S, R: 6x5x7 voxels, 20 of them set.
check "info on a mask" 0 "$ctv" info "$data/mask_psr.nii.gz"
has "file named" "$out" "mask_psr.nii.gz"
has "datatype" "$out" "^  datatype +uint8$"
has "dims" "$out" "^  dims +6 x 5 x 7$"
has "spacing" "$out" "^  spacing +1 x 1 x 1 mm$"
has "orientation" "$out" "^  orientation +PSR$"
has "transform" "$out" "^  transform +sform \(code 1, scanner\)$"
has "origin" "$out" "^  origin +-3, 2.5, 10 mm$"
has "values" "$out" "^  values +min 0, max 1, mean 0.0952381$"
has "voxels above 0.5" "$out" "^  voxels > 0.5 +20 \(0.02 cm3\)$"
lines "nothing on stderr" "$err" 0

# qform only (sform_code 0), anisotropic, flipped k; scaled int16.
check "info on two files" 0 "$ctv" info "$data/qform_only.nii.gz" "$data/int16_scaled.nii"
has "qform used" "$out" "^  transform +qform \(code 1, scanner\)$"
has "qform orientation" "$out" "^  orientation +ALI$"
has "qform spacing" "$out" "^  spacing +0.8 x 0.9 x 2 mm$"
has "qform origin" "$out" "^  origin +12.5, -40.25, 7 mm$"
has "scaling applied" "$out" "^  values +min -21504.5, max 19453, "
has "second file named" "$out" "int16_scaled.nii"

# Files it cannot read: exit 1, one line each on stderr, naming the file and the fault.
for bad in missing.nii.gz:"does not exist" truncated.nii.gz:truncated nifti2.nii:NIfTI-2 \
  uint16.nii:uint16 no_transform.nii:qform not_nifti.nii:NIfTI bad_crc.nii.gz:corrupt; do
  name=${bad%%:*}
  check "info on $name" 1 "$ctv" info "$data/$name"
  lines "$name: one line on stderr" "$err" 1
  has "$name: message" "$err" "^ctv info: error: $data/$name: .*${bad#*:}"
  lines "$name: nothing on stdout" "$out" 0
done

# A bad file among good ones: the good ones are still shown, the exit code says a file failed.
check "good and bad" 1 "$ctv" info "$data/mask_ras.nii.gz" "$data/missing.nii.gz" "$data/aniso.nii"
lines "good and bad: one error line" "$err" 1
has "good and bad: first shown" "$out" "mask_ras.nii.gz"
has "good and bad: last shown" "$out" "^  spacing +1 x 1 x 2.5 mm$"

# Weights (weights/FORMAT.md): the file tools/write_weights_h5py.py wrote from the format alone.
check "info on weights" 0 "$ctv" info --weights "$2/weights_h5py.h5"
has "weights format" "$out" "^  format +ctvnet-weights 1, checksum sha256 18bd7b6a861fe9da"
has "weights integrity" "$out" "^  integrity +file sha256 ab0d2575df1ca426f8180d065af44c92eb810b11f93c6039cf413c56e255b77f matches its integrity block \(46056 bytes\)$"
has "weights kind" "$out" "^  kind +weights \(no optimizer state\)$"
has "weights network" "$out" "^  network +UNet3D: 2 levels, filters 4-8, 2 input channels, batch norm"
has "weights parameters" "$out" "trainable parameters 4,897 "
has "weights preprocessing" "$out" \
  "^  preprocess +spacing 2 x 2 x 5 mm, grid 64 x 48 x 32, crop igtv_centroid$"
has "weights CT input" "$out" "^  CT input +\(clip\(HU, -1000, 400\) - \(-1000\)\) / 1400, padding -1000 HU$"
lines "weights: nothing on stderr" "$err" 0
check "info on HDF5 that is not weights" 1 "$ctv" info --weights "$2/golden_unet.h5"
lines "not weights: one line on stderr" "$err" 1
has "not weights: message" "$err" "^ctv info: error: $2/golden_unet.h5: is HDF5 but not a ctvnet weights file"

# One byte changed after the integrity block: refused by the fence, before HDF5 reads it.
cp "$2/weights_h5py.h5" "$tmp/damaged.h5"
printf '\x55' | dd of="$tmp/damaged.h5" bs=1 seek=20000 conv=notrunc status=none
check "info on damaged weights" 1 "$ctv" info --weights "$tmp/damaged.h5"
lines "damaged: one line on stderr" "$err" 1
has "damaged: message" "$err" \
  "^ctv info: error: $tmp/damaged.h5: damaged: file SHA-256 does not match its integrity block"

check "no file given" 2 "$ctv" info
exit $fail
