from django.db import migrations


class Migration(migrations.Migration):
    """Store geometries uncompressed.

    pglz cannot compress float coordinates much (65 MB vs 66 MB for the 101
    countries) but costs ~1 s per import and a decompression on every
    point-in-polygon read. EXTERNAL keeps out-of-line TOAST storage without it.
    """

    dependencies = [("geo", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=[
                "ALTER TABLE geo_boundary ALTER COLUMN geometry SET STORAGE EXTERNAL",
                "ALTER TABLE geo_boundary ALTER COLUMN simplified_geometry SET STORAGE EXTERNAL",
            ],
            reverse_sql=[
                "ALTER TABLE geo_boundary ALTER COLUMN geometry SET STORAGE MAIN",
                "ALTER TABLE geo_boundary ALTER COLUMN simplified_geometry SET STORAGE MAIN",
            ],
        ),
    ]
