#!/usr/bin/python3
"""Writes the NIfTI fixtures of tests/test_nifti.cpp and what nibabel says of each.

Run with Debian's interpreter, which has nibabel 5.0 and numpy (another python3 on PATH may
lack nibabel):

    /usr/bin/python3 tools/make_nifti_fixtures.py [tests/data/nifti]

Headers are built with nibabel's Nifti1Header and written byte by byte (header, 4 bytes of
extension flags, data in x-fastest order), so every field is exactly what the test expects,
including ones nibabel's own writer would normalise (a qform that differs from the sform,
srows left behind with sform_code 0, scl_slope 0, big-endian data). Every readable fixture is
then loaded back with nibabel, which is the independent reader the C++ tests compare with:
expected.json holds its affine, shape, values, axis codes, the volume reoriented to LPS
(io_orientation -> ornt_transform -> apply_orientation) and the world position of a few voxels.
Fixed seed, gzip mtime 0: rerunning gives the same bytes.
"""
import gzip
import io
import json
import os
import sys

import nibabel as nib
import numpy as np
from nibabel.orientations import (aff2axcodes, apply_orientation, axcodes2ornt,
                                  inv_ornt_aff, io_orientation, ornt_transform)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'nifti')
SHAPE = (7, 6, 5)  # odd/even/odd, all different: a wrong axis order cannot go unnoticed
rng = np.random.default_rng(20261127)


def ras_affine(spacing=(1.0, 1.0, 1.0), origin=(-3.0, -2.5, 10.0)):
    a = np.diag(list(spacing) + [1.0])
    a[:3, 3] = origin
    return a


def rotation(deg_z, deg_x):
    cz, sz = np.cos(np.radians(deg_z)), np.sin(np.radians(deg_z))
    cx, sx = np.cos(np.radians(deg_x)), np.sin(np.radians(deg_x))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ rx


def header(dtype, shape, endian='<'):
    h = nib.Nifti1Header(endianness=endian)
    h.set_data_dtype(dtype)
    h.set_data_shape(shape)
    h.set_xyzt_units('mm', 'sec')
    h['vox_offset'] = 352
    h['scl_slope'] = np.nan  # nibabel's "no scaling"
    h['scl_inter'] = np.nan
    return h


def file_bytes(h, data):
    dt = h.get_data_dtype()
    return h.binaryblock + b'\0' * 4 + np.asarray(data).astype(dt).tobytes(order='F')


def save(name, blob):
    path = os.path.join(OUT, name)
    if name.endswith('.gz'):
        buf = io.BytesIO()
        with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0) as g:
            g.write(blob)
        blob = buf.getvalue()
    with open(path, 'wb') as f:
        f.write(blob)


def write(name, data, affine, dtype, qform=1, sform=1, qaffine=None, endian='<', **fields):
    """data in voxel order (x, y, z[, ...]); qaffine: a qform other than the sform."""
    h = header(dtype, data.shape, endian)
    h.set_qform(affine if qaffine is None else qaffine, code=qform)
    h.set_sform(affine, code=sform)
    for k, v in fields.items():
        h[k] = v
    save(name, file_bytes(h, data))


# ---- content ---------------------------------------------------------------------------------
def mask():
    m = np.zeros(SHAPE, np.uint8)
    m[1:4, 1:3, 1:4] = 1  # a block off centre in every axis
    m[5, 4, 3] = 1        # and one voxel far from it: mirrors and swaps move it
    m[0, 0, 4] = 1
    return m


def values(dtype):
    info = np.iinfo(dtype)
    v = rng.integers(info.min, info.max, size=SHAPE, endpoint=True, dtype=np.int64)
    v.flat[0], v.flat[1], v.flat[-1] = info.min, info.max, 0  # the extremes round-trip
    return v.astype(dtype)


def floats():
    # Multiples of 1/8: exact in float32, short in JSON.
    return np.round(rng.normal(0, 400, SHAPE) * 8) / 8


AFF = ras_affine()
expected = {}


def expect(name, **extra):
    img = nib.load(os.path.join(OUT, name))
    data = np.asarray(img.get_fdata(), np.float64)
    shape3 = data.shape[:3]
    data3 = data.reshape(shape3, order='F')
    ornt = io_orientation(img.affine)
    tr = ornt_transform(ornt, axcodes2ornt(('L', 'P', 'S')))
    can = apply_orientation(data3, tr)
    can_aff = img.affine @ inv_ornt_aff(tr, shape3)
    source_axis = [0, 0, 0]
    flip = [False, False, False]
    for a in range(3):
        c = int(ornt[a, 0])
        source_axis[c] = a
        flip[c] = bool(tr[a, 1] < 0)
    voxels = [[0, 0, 0], [shape3[0] - 1, shape3[1] - 1, shape3[2] - 1], [3, 2, 1]]
    world = [(img.affine @ np.array(v + [1.0]))[:3].tolist() for v in voxels]
    hdr = img.header
    expected[name] = dict(
        shape=list(data.shape),
        datatype=str(hdr.get_data_dtype().newbyteorder('=')),
        affine=img.affine.tolist(),
        sform_code=int(hdr['sform_code']),
        qform_code=int(hdr['qform_code']),
        axcodes=''.join(aff2axcodes(img.affine)),
        data=data3.flatten(order='F').tolist(),
        # For a steeply oblique image the reoriented affine need not read 'LPS' again:
        # io_orientation takes voxel axes in order, so the choice depends on their order.
        canonical=dict(shape=list(can.shape), affine=can_aff.tolist(),
                       axcodes=''.join(aff2axcodes(can_aff)),
                       data=can.flatten(order='F').tolist(), source_axis=source_axis,
                       flip=flip),
        voxels=voxels,
        world=world,
        **extra)


def refuse(name, reason):
    expected[name] = dict(refused=True, reason=reason)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(('.nii', '.nii.gz', '.json')):
            os.remove(os.path.join(OUT, f))

    # Each accepted datatype; sform and qform agree, as most scanners write them.
    write('uint8.nii', values(np.uint8), AFF, np.uint8)
    write('int16.nii', values(np.int16), AFF, np.int16)
    write('int32.nii', values(np.int32), AFF, np.int32)
    f = floats()
    write('float32.nii', f, AFF, np.float32)
    write('float32.nii.gz', f, AFF, np.float32)  # the same volume, compressed
    write('float64.nii', floats(), AFF, np.float64)
    write('int16_bigendian.nii', values(np.int16), AFF, np.int16, endian='>')
    # Scaling: results exact in float32 arithmetic, so nibabel's and ours agree bit for bit.
    write('int16_scaled.nii', values(np.int16) // 4, AFF, np.int16, scl_slope=2.5,
          scl_inter=-1024.5)
    # Slope 0 means "no scaling" (NIfTI standard): the intercept must be ignored too.
    write('uint8_slope0.nii', values(np.uint8), AFF, np.uint8, scl_slope=0.0, scl_inter=7.0)

    m = mask()
    write('mask_ras.nii.gz', m, AFF, np.uint8)
    # Same array, x axis running the other way: the world sees the mirrored mask.
    las = AFF.copy()
    las[0, 0] = -1.0
    las[0, 3] = 3.0
    write('mask_las.nii.gz', m, las, np.uint8)
    # The mask_ras volume stored with axes P, S, R: the same voxels at the same world places.
    tr = ornt_transform(axcodes2ornt(('R', 'A', 'S')), axcodes2ornt(('P', 'S', 'R')))
    write('mask_psr.nii.gz', apply_orientation(m, tr), AFF @ inv_ornt_aff(tr, SHAPE),
          np.uint8)
    # qform only: sform_code 0, with stale srows that must be ignored; qfac -1 (a flipped k).
    q = np.eye(4)
    q[:3, :3] = rotation(90, 0) @ np.diag([0.8, 0.9, -2.0])  # i -> A, j -> L, k -> I
    q[:3, 3] = [12.5, -40.25, 7.0]
    write('qform_only.nii.gz', floats(), q, np.float32, qform=1, sform=0,
          srow_x=[9, 9, 9, 9], srow_y=[9, 9, 9, 9], srow_z=[9, 9, 9, 9])
    # sform and a different qform: the sform wins (code 2, "aligned").
    s = ras_affine((1.0, 1.0, 2.5), (100.0, -50.0, -20.0))
    s[0, 0] = -1.0
    write('sform_wins.nii', m, s, np.uint8, qform=1, sform=2, qaffine=ras_affine((2, 2, 2)))
    # Anisotropic CT-like spacing, an oblique sform (20 deg about z, 10 deg about x).
    o = np.eye(4)
    o[:3, :3] = rotation(20, 10) @ np.diag([0.9, 1.1, 2.5])
    o[:3, 3] = [-30.0, 15.5, 60.25]
    write('oblique_aniso.nii.gz', floats(), o, np.float32)
    # Steeply oblique (55 deg about z, 40 deg about x): no voxel axis is near a world axis,
    # so the choice of axes is io_orientation's, not an obvious one.
    o2 = np.eye(4)
    o2[:3, :3] = rotation(55, 40) @ np.diag([1.0, 1.0, 2.5])
    write('oblique_steep.nii.gz', m, o2, np.uint8)
    write('aniso.nii', m, ras_affine((1, 1, 2.5)), np.uint8)
    # 4-D with one volume: accepted as 3-D.
    write('dim4.nii', values(np.int16).reshape(SHAPE + (1,)), AFF, np.int16)
    # Two files of one patient; b's origin is 0.5 mm off, c's 0.0004 mm (within 1e-3 mm).
    write('geometry_a.nii.gz', m, AFF, np.uint8)
    write('geometry_b.nii.gz', m, ras_affine(origin=(-3.0, -2.0, 10.0)), np.uint8)
    write('geometry_c.nii.gz', m, ras_affine(origin=(-3.0, -2.5, 10.0004)), np.uint8)

    for name in sorted(f for f in os.listdir(OUT) if f.endswith(('.nii', '.nii.gz'))):
        expect(name)
    expected['int16_scaled.nii'].update(scl_slope=2.5, scl_inter=-1024.5)

    # ---- files that must be refused, and a word the message must hold -----------------------
    write('dim4_two_volumes.nii', np.stack([m, m], axis=3), AFF, np.uint8)
    refuse('dim4_two_volumes.nii', 'dimension')
    write('no_transform.nii', m, AFF, np.uint8, qform=0, sform=0)
    refuse('no_transform.nii', 'qform')
    write('uint16.nii', m.astype(np.uint16), AFF, np.uint16)
    refuse('uint16.nii', 'uint16')
    nan = floats()
    nan[2, 3, 4] = np.nan
    write('nan.nii', nan, AFF, np.float32)
    refuse('nan.nii', 'NaN')
    nib.save(nib.Nifti2Image(m, AFF), os.path.join(OUT, 'nifti2.nii'))
    refuse('nifti2.nii', 'NIfTI-2')
    h = header(np.int16, SHAPE)
    h.set_sform(AFF, code=1)
    whole = file_bytes(h, values(np.int16))
    save('truncated.nii', whole[:352 + 100])
    refuse('truncated.nii', 'truncated')
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0) as g:
        g.write(file_bytes(h, rng.integers(-1000, 1000, SHAPE)))
    with open(os.path.join(OUT, 'truncated.nii.gz'), 'wb') as fo:
        fo.write(buf.getvalue()[:len(buf.getvalue()) // 2])
    refuse('truncated.nii.gz', 'truncated')
    # Complete image data, but the gzip trailer (CRC) does not match it.
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0) as g:
        g.write(file_bytes(h, values(np.int16)))
    blob = bytearray(buf.getvalue())
    blob[-8] ^= 0xff
    with open(os.path.join(OUT, 'bad_crc.nii.gz'), 'wb') as fo:
        fo.write(bytes(blob))
    refuse('bad_crc.nii.gz', 'corrupt')
    with open(os.path.join(OUT, 'not_nifti.nii'), 'wb') as fo:
        fo.write(b'this is a text file, not an image\n' * 20)
    refuse('not_nifti.nii', 'NIfTI')
    with open(os.path.join(OUT, 'short.nii'), 'wb') as fo:
        fo.write(whole[:100])
    refuse('short.nii', 'truncated')
    refuse('missing.nii.gz', 'does not exist')

    for name, e in expected.items():
        if e.get('refused') or name == 'missing.nii.gz':
            continue
        try:
            nib.load(os.path.join(OUT, name)).get_fdata()
        except Exception as ex:  # a fixture nibabel cannot read would prove nothing
            raise SystemExit(f'{name}: nibabel cannot read it: {ex}')

    with open(os.path.join(OUT, 'expected.json'), 'w') as fo:
        json.dump(expected, fo, indent=None, separators=(',', ':'), sort_keys=True)
        fo.write('\n')
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'{len(os.listdir(OUT))} files, {total} bytes in {OUT}')


if __name__ == '__main__':
    main()
