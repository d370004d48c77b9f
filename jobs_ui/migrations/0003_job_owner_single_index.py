"""One index on the owner: the (owner, -enqueued_at) index serves every lookup by owner."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs_ui", "0002_worker_pool_claim_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="jobs_ui_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
