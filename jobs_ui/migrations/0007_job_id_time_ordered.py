from django.db import migrations, models

import jobs_ui.jobs.ids


class Migration(migrations.Migration):
    dependencies = [
        ("jobs_ui", "0006_job_errors"),
    ]

    operations = [
        # A Python default: nothing changes in the database (SQLite would copy the table).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="job",
                    name="id",
                    field=models.UUIDField(
                        default=jobs_ui.jobs.ids.new_job_id, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
    ]
